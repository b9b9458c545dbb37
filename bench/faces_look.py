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
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faces")]

from face_samples import decoded, encode, push_in, t1_image  # noqa: E402

from tasks.faces import FaceEngine, Mapping, look  # noqa: E402
from tasks.faces.detect import detect_faces  # noqa: E402
from tasks.faces.embed import distance, embed_face  # noqa: E402


def _lab_shift(da: float, db: float) -> Callable[[np.ndarray], np.ndarray]:
    def grade(image: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[..., 1] += da
        lab[..., 2] += db
        return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)

    return grade


def _side_light(image: np.ndarray) -> np.ndarray:
    gain = np.linspace(0.35, 1.3, image.shape[1], dtype=np.float32)[None, :, None]
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _dim(image: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(7).normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) * 0.4 + noise, 0, 255).astype(np.uint8)


def _small(image: np.ndarray) -> np.ndarray:
    small = cv2.resize(image, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    canvas = np.full((540, 960, 3), 90, np.uint8)
    y, x = (540 - small.shape[0]) // 2, (960 - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


def cases(t1: np.ndarray, frame: int, folder: Path) -> dict[str, np.ndarray]:
    """Each case's frame, as decoded from a real H.264 film."""
    end = 1 - 0.2 * frame / 299
    base = push_in(t1, frame + 1, (960, 540), end)[-1]
    large = push_in(t1, frame + 1, (1920, 1080), end)[-1]
    made = {
        "push-in": base,
        "teal grade": _lab_shift(-14, -24)(base),
        "warm tint": _lab_shift(10, 25)(base),
        "side light": _side_light(base),
        "dim, noisy": _dim(base),
        "small faces": _small(t1),
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
