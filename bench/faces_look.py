"""How replaced faces look on shots no test was tuned on: identity and the forehead band.

    .venv/bin/python bench/faces_look.py [--source astronaut|hanks] [--frame 50]

Hard cases built from images that ship here (insightface's t1.jpg with six people,
scikit-image's astronaut, insightface's Tom Hanks sample as a second source), each a frame of a
real H.264 film (x264 medium, 2.5 Mbit/s, decoded back): a slow push-in on t1 at 960x540 (the
new user's film, frame 50), the same frame with a teal grade, a warm (sepia) tint, a strong
side light (from the right, 0.35x to 1.3x), a dim noisy shot, small faces (t1 at 45% in a
960x540 frame, eyes about 20 px apart) and large ones (a 1920x1080 push-in, 512-pixel crops).

Per case, for every written face: identity (the fraction nearer the source than the original
person, dlib's ResNet as the judge, as the issue asks; dlib also picks faces, no other identity
model ships here) with the mean and least margin (distance to the original minus distance to
the source), and `look.band_step` (luminance and chroma the swap added to the upper half's
skin beyond the lower half's: a paler band across forehead and eyes). Figures are printed;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faces")]

from face_samples import (  # noqa: E402
    decoded,
    dim,
    encode,
    lab_shift,
    push_in,
    side_light,
    small,
    t1_image,
)

from tasks.faces import FaceEngine, Mapping, look  # noqa: E402
from tasks.faces.detect import detect_faces  # noqa: E402
from tasks.faces.embed import distance, embed_face  # noqa: E402


def cases(t1: np.ndarray, frame: int, folder: Path) -> dict[str, np.ndarray]:
    """Each case's frame, as decoded from a real H.264 film."""
    end = 1 - 0.2 * frame / 299
    base = push_in(t1, 2, (960, 540), end)[-1]  # the push-in's frame `frame`
    large = push_in(t1, 2, (1920, 1080), end)[-1]
    made = {
        "push-in": base,
        "teal grade": lab_shift(base, -14, -24),
        "warm tint": lab_shift(base, 10, 25),
        "side light": side_light(base),
        "dim, noisy": dim(base),
        "small faces": small(t1),
        "large faces": large,
    }
    out = {}
    for name, picture in made.items():
        path = encode([picture] * 3, folder / f"{name.replace(' ', '_').replace(',', '')}.mp4")
        out[name] = decoded(path)[-1]
    return out


def measure(name: str, frame: np.ndarray, source: np.ndarray) -> None:
    wanted = embed_face(source, detect_faces(source)[0])
    result = FaceEngine([Mapping(source=source)]).process(frame)
    margins, steps = [], []
    for face in result.swapped:
        got = embed_face(result.frame, face)
        margins.append(distance(got, embed_face(frame, face)) - distance(got, wanted))
        steps.append(look.band_step(frame, result.frame, face))
    if not margins:
        print(f"{name:12s} no face written ({len(detect_faces(frame))} found)")
        return
    m, s = np.array(margins), np.array(steps)
    print(
        f"{name:12s} faces {len(m)}  identity {np.mean(m > 0):.2f} (margin mean {m.mean():.3f},"
        f" least {m.min():+.3f})  band L mean {s[:, 0].mean():+.1f} max {s[:, 0].max():+.1f}"
        f"  chroma mean {s[:, 1].mean():+.1f} min {s[:, 1].min():+.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=("astronaut", "hanks"), default="astronaut")
    parser.add_argument("--frame", type=int, default=50)
    args = parser.parse_args()
    import insightface

    folder = Path(insightface.__file__).parent / "data" / "images"
    source = (
        data.astronaut()
        if args.source == "astronaut"
        else cv2.cvtColor(cv2.imread(str(folder / "Tom_Hanks_54745.png")), cv2.COLOR_BGR2RGB)
    )
    print(f"source {args.source}; load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in cases(t1_image(), args.frame, Path(tmp)).items():
            measure(name, frame, source)
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
