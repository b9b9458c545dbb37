"""`make demo`: a short multi-shot film of public-domain faces, rendered through the DAG.

The film shows NASA astronaut Eileen Collins (scikit-image's astronaut.png, public domain), the
cameraman of camera.png (CC0) and shots with no face. The render puts the astronaut's face on
the cameraman only (the reference picks him), so her own shots and the empty ones pass through
untouched. (The other way round works less well: he is seen in three-quarter profile, a poor
source for a frontal face.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from recast.local_render import FaceArg, render
from recast.progress import live
from recast.samples import demo_shots, make_film
from recast.summary import summary_lines


def _save(image: np.ndarray, path: Path) -> Path:
    rgb = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image
    Image.fromarray(rgb).save(path)
    return path


def run_demo(out: Path, *, verbose: bool = False) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    film = make_film(out / "demo_input.mp4", demo_shots())
    source = _save(data.astronaut(), out / "face_source_astronaut.png")
    reference = _save(data.camera(), out / "face_reference_camera.png")
    # Short units so the demo fans out to several mapped swap tasks, as a feature would.
    report, files = render(
        film,
        [FaceArg(source, reference)],
        out / "demo_output.mp4",
        extra_conf={
            "unit_frames": 48,
            "consent_reference": "DEMO-PUBLIC-DOMAIN-astronaut.png-CC0-camera.png",
        },
        log_file=None if verbose else out / "airflow.log",
        progress=None if verbose else live,
    )
    files = {"input": film, **files}
    qc = json.loads(files["qc"].read_text()) if "qc" in files else None
    lines = summary_lines(report, files, time.perf_counter() - started, qc=qc, verbose=verbose)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    print("\n".join(lines))
    return files
