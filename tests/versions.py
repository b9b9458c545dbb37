"""Films in several versions of a cut, and renders of them through the real stages (in process):
shared by tests/test_reuse.py, tests/test_scoped.py and bench/versions.py."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.frames import read_frames
from tasks.shots.detect import detect_shots
from tasks.stages import assemble, plan, probe, restore, split, swap

Frames = list[np.ndarray]


def decode(path: Path) -> Frames:
    return list(read_frames(path))


def encode(
    frames: Sequence[np.ndarray], path: Path, *, crf: int = 18, preset: str = "fast"
) -> Path:
    """Frames to an H.264 film (no audio) with the given x264 settings."""
    h, w = frames[0].shape[:2]
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
        "-r", "24", "-i", "-", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def other_take(frames: Frames, box: tuple[int, int, int, int]) -> Frames:
    """The same framing at another moment: inside `box` (x, y, w, h, the face) the picture
    moved by a few pixels and brightened, everywhere else it is unchanged."""
    x, y, w, h = box
    out = []
    for frame in frames:
        f = frame.copy()
        patch = frame[y : y + h, x + 6 : x + w + 6].astype(np.int16) + 25
        f[y : y + h, x : x + w] = np.clip(patch, 0, 255).astype(np.uint8)
        out.append(f)
    return out


def save_png(image: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.stack([image] * 3, -1) if image.ndim == 2 else image).save(path)
    return path


def render(
    film: Path, bucket: str, run: str, spec: dict[str, Any], *, restore_units: bool = False
) -> tuple[RunLayout, list[dict[str, Any]]]:
    """probe, detect shots, plan, split, swap (and restore, assemble) of one run, as the DAG
    orders them; the swap results."""
    layout = RunLayout(f"s3://{bucket}/runs/{run}")
    asset = storage.upload(film, f"s3://{bucket}/in/{run}{film.suffix}")
    storage.write_json(layout.spec, {**spec, "asset": asset})
    probe.run(asset, layout.probe)
    storage.write_json(layout.shots, detect_shots(film).model_dump())
    units = plan.run(layout.prefix)["units"]
    split.run(asset, layout.prefix)
    swaps = [swap.run(layout.prefix, u) for u in units]
    if restore_units:
        for u in units:
            restore.run(layout.prefix, u)
        assemble.run(asset, layout.prefix)
        # What the DAG's collect step hands over: the run now counts as a published render.
        storage.write_json(layout.results, {"run_id": run, "stages": {}, "swaps": swaps})
    return layout, swaps


def swapped_frames(layout: RunLayout, tmp: Path) -> Frames:
    """The run's swapped frames, every unit in order."""
    from tasks.spec import UnitPlan

    units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
    frames: Frames = []
    for u in units:
        frames += decode(storage.download(layout.unit_swapped(u.id), tmp / f"{u.id}.mkv"))
    return frames


def per_shot(swaps: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Shot index -> its swap counts, summed over the units it spans."""
    out: dict[int, dict[str, Any]] = {}
    for result in swaps:
        for s in result["per_shot"]:
            row = out.setdefault(s["shot"], {"frames": 0, "frames_reused": 0, "reused_from": None})
            row["frames"] += s.get("frames", 0)
            row["frames_reused"] += s.get("frames_reused", 0)
            row["reused_from"] = row["reused_from"] or s.get("reused_from")
    return out
