"""Hard films for shot detection, with the ground truth written by the generator.

Each film is a run of shots rendered in numpy from public-domain and CC0 stills (scikit-image's
sample images: NASA's astronaut, rocket and Hubble field and the Walters Art Museum's coins are
public domain; coffee, chelsea, camera, brick, grass, gravel and cell are CC0) and piped to
x264 at a heavy compression (CRF 32 by default). What makes them hard, by case (`CASES`):
- `shake`: handheld shake in every shot (always on), `whip`: a whip pan with motion blur inside a
  shot (no boundary);
- `strobe`: several white flashes within a few frames, `muzzle`: single bright frames (no
  boundary);
- `flash_cut`: a shot of 3 to 6 frames between two others (two cuts);
- `same_scene`: a cut between two framings of one still (wide, then close-up);
- `dissolve`: 30 to 50 frames between two moving shots, `wipe`: a left-to-right wipe, `fade`:
  through black;
- `night`: dim, noisy shots cut against each other.

Ground truth: each boundary's frame (the new shot's first frame, or the middle of a gradual
transition, as `detect-shots` places it), its kind and length. The scorer (`score`) gives F1 at
a tolerance of 0 and 1 frames, cuts and gradual transitions apart.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from recast.samples import _as_rgb, _cover, _view

Kind = Literal["cut", "dissolve", "fade", "wipe"]
GRADUAL = ("dissolve", "fade", "wipe")
CASES = ("whip", "strobe", "muzzle", "flash_cut", "same_scene", "dissolve", "wipe", "fade", "night")
_ZOOM = 1.6  # stills are scaled to cover the frame at this magnification: room to move and shake


def stills() -> list[np.ndarray]:
    from skimage import data

    rgb = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
           data.immunohistochemistry(), data.hubble_deep_field()]  # fmt: skip
    grey = [data.camera(), data.moon(), data.coins(), data.brick(), data.grass(), data.cell()]
    return [_as_rgb(i) for i in rgb] + [_tint(_as_rgb(g), k) for k, g in enumerate(grey)]


def _tint(image: np.ndarray, k: int) -> np.ndarray:
    """Greyscale stills in a colour of their own, as real shots are rarely all grey."""
    colours = [(1.0, 0.9, 0.8), (0.8, 0.9, 1.0), (1.0, 1.0, 0.7), (0.9, 0.8, 1.0), (0.7, 1.0, 0.8)]
    scale = np.array(colours[k % len(colours)], np.float32)
    return np.clip(image * scale, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class HardShot:
    still: int  # index into stills()
    frames: int
    focus: tuple[float, float] = (0.5, 0.5)
    zoom: float = 1.0  # 1 = the widest view; a close-up of the same still is 2 or more
    drift: tuple[float, float] = (0.0, 0.0)  # slow camera move, share of the width per frame
    shake: float = 0.006  # handheld shake, share of the width
    transition: Kind = "cut"  # how this shot begins
    transition_frames: int = 0  # frames of that gradual transition (0 for a cut)
    whip: tuple[int, int] | None = None  # frames of the shot (from 0) that whip pan
    flashes: tuple[int, ...] = ()  # frames of the shot that flash white
    night: bool = False  # dim and noisy
    seed: int = 0


@dataclass(frozen=True)
class Boundary:
    frame: int
    kind: Kind
    length: int


@dataclass
class HardFilm:
    shots: list[HardShot] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.shots)

    def truth(self) -> list[Boundary]:
        starts = np.cumsum([0] + [s.frames for s in self.shots]).tolist()
        return [Boundary(int(starts[k]), s.transition, s.transition_frames)
                for k, s in enumerate(self.shots) if k]  # fmt: skip


class _Renderer:
    """Frame i of a shot, i may run before 0 or past its end (a transition's handles)."""

    def __init__(self, shot: HardShot, still: np.ndarray, width: int, height: int) -> None:
        self.shot, self.width, self.height = shot, width, height
        self.still = _cover(still, width, height, _ZOOM)
        rng = np.random.default_rng(shot.seed)
        self.phases = rng.uniform(0, 2 * np.pi, 6)
        self.speeds = rng.uniform(0.15, 0.45, 6)  # radians a frame: a hand's tremor

    def frame(self, i: int) -> np.ndarray:
        shot, still = self.shot, self.still
        big_h, big_w = still.shape[:2]
        x = shot.focus[0] * big_w + shot.drift[0] * self.width * i
        y = shot.focus[1] * big_h + shot.drift[1] * self.width * i
        shake = shot.shake * self.width
        p, s = self.phases, self.speeds
        x += shake * (np.sin(s[0] * i + p[0]) + 0.5 * np.sin(s[1] * i * 2.3 + p[1]))
        y += shake * (np.sin(s[2] * i + p[2]) + 0.5 * np.sin(s[3] * i * 1.7 + p[3]))
        zoom = shot.zoom * (1 + 0.01 * np.sin(s[4] * i + p[4]))
        blur = 0
        if shot.whip and shot.whip[0] <= i < shot.whip[1] + 8:
            # 0.12 of the width a frame while whipping, then back over 8 frames: the shutter
            # smears it into a blur as long as the move.
            whipped = min(i, shot.whip[1]) - shot.whip[0]
            back = max(0, i - shot.whip[1])
            x += 0.12 * self.width * (whipped - whipped * back / 8)
            blur = (
                int(0.12 * self.width) if i < shot.whip[1] else int(0.12 * self.width / 8 * whipped)
            )
        frame = _view(still, self.width, self.height, zoom, x, y)
        if blur > 1:
            kernel = np.full((1, blur), 1.0 / blur, np.float32)
            frame = cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT)
        if shot.night:
            noise = np.random.default_rng((shot.seed, i % 100_000 + 100_000)).normal(
                0, 7, frame.shape
            )
            frame = np.clip(frame * 0.22 + 6 + noise, 0, 255).astype(np.uint8)
        if i in shot.flashes:
            frame = (frame * 0.15 + 255 * 0.85).astype(np.uint8)
        return frame


def frames_of(film: HardFilm, width: int, height: int) -> Iterator[np.ndarray]:
    pictures = stills()
    renderers = [_Renderer(s, pictures[s.still], width, height) for s in film.shots]
    shots = film.shots
    for k, shot in enumerate(shots):
        for i in range(shot.frames):
            if k and i < shot.transition_frames // 2:
                yield _mix(renderers[k - 1], renderers[k], shots[k - 1].frames + i, i)
            elif k + 1 < len(shots) and shot.frames - i <= shots[k + 1].transition_frames // 2:
                yield _mix(renderers[k], renderers[k + 1], i, i - shot.frames)
            else:
                yield renderers[k].frame(i)


def _mix(out: _Renderer, into: _Renderer, i_out: int, i_in: int) -> np.ndarray:
    """Frame `i_in` (from the new shot's start, negative before it) of a gradual transition."""
    length, kind = into.shot.transition_frames, into.shot.transition
    alpha = (i_in + length / 2 + 0.5) / length  # share of the new shot, 0..1
    a, b = out.frame(i_out).astype(np.float32), into.frame(i_in).astype(np.float32)
    if kind == "fade":  # out to black, then in from black: the middle two black
        half = length // 2
        mixed = a * max(0.0, (-1 - i_in) / half) if i_in < 0 else b * (i_in / half)
    elif kind == "wipe":  # a soft edge crossing left to right
        x = np.arange(out.width, dtype=np.float32) / out.width
        share = np.clip((alpha - x) * 25 + 0.5, 0, 1)[None, :, None]
        mixed = a * (1 - share) + b * share
    else:
        mixed = a * (1 - alpha) + b * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def write(
    film: HardFilm, path: Path, *, size: tuple[int, int] = (640, 360), fps: str = "25",
    crf: int = 32, bitrate: str | None = None, preset: str = "veryfast",
) -> Path:  # fmt: skip
    """Encode `film` with x264 at `crf` (or at an average `bitrate`, e.g. "2M"), at x264's
    `preset`."""
    return write_each(film, {preset: path}, size=size, fps=fps, crf=crf, bitrate=bitrate)[preset]


def write_each(
    film: HardFilm, paths: dict[str, Path], *, size: tuple[int, int] = (640, 360),
    fps: str = "25", crf: int = 32, bitrate: str | None = None,
) -> dict[str, Path]:  # fmt: skip
    """`film` rendered once and encoded at each x264 preset of `paths` into its path (one
    ffmpeg, one output each), as `write` encodes."""
    width, height = size
    rate = (
        ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "4M"] if bitrate else ["-crf", str(crf)]
    )
    outputs = [arg for preset, path in paths.items()
               for arg in ("-c:v", "libx264", "-preset", preset, *rate, "-pix_fmt", "yuv420p",
                           str(path))]  # fmt: skip
    cmd = ["ffmpeg", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-framerate", fps, "-i", "pipe:0", *outputs]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for frame in frames_of(film, width, height):
            proc.stdin.write(frame.tobytes())
    finally:
        proc.stdin.close()
    if proc.wait():
        raise RuntimeError(f"ffmpeg failed on {paths}: {proc.stderr.read().decode()[-400:]}")
    return paths


def case_shots(case: str, rng: np.random.Generator, previous: int) -> list[HardShot]:
    """Shots that show `case` once, the first of them entered by a plain cut."""
    count = len(stills())

    def pick(avoid: int) -> int:
        return int(rng.choice([k for k in range(count) if k != avoid]))

    def shot(still: int, frames: int, **extra: object) -> HardShot:
        drift = (float(rng.uniform(-0.004, 0.004)), float(rng.uniform(-0.002, 0.002)))
        base = dict(still=still, frames=frames, drift=drift, seed=int(rng.integers(1 << 30)),
                    focus=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))))  # fmt: skip
        return HardShot(**{**base, **extra})  # type: ignore[arg-type]

    a = pick(previous)
    b = pick(a)
    n = int(rng.integers(40, 70))
    if case == "whip":
        start = int(rng.integers(12, n - 20))
        return [shot(a, n + 20, whip=(start, start + int(rng.integers(3, 7))))]
    if case == "strobe":
        start = int(rng.integers(10, n - 15))
        flashes = tuple(start + d for d in (0, 2, 3, 5, 7)[: int(rng.integers(3, 6))])
        return [shot(a, n, flashes=flashes)]
    if case == "muzzle":
        return [
            shot(
                a,
                n + 30,
                flashes=(int(rng.integers(10, n // 2)), int(rng.integers(n // 2 + 5, n + 20))),
            )
        ]
    if case == "flash_cut":
        return [shot(a, n), shot(b, int(rng.integers(3, 7))), shot(pick(b), n)]
    if case == "same_scene":
        return [shot(a, n), shot(a, n, zoom=float(rng.uniform(2.0, 2.6)))]
    if case in ("dissolve", "wipe", "fade"):
        length = (
            int(rng.integers(15, 26)) * 2 if case == "dissolve" else int(rng.integers(6, 13)) * 2
        )
        moving = (float(rng.choice([-1, 1]) * rng.uniform(0.004, 0.008)), 0.0)
        first = shot(a, n + length, drift=moving)
        second = shot(b, n + length, drift=(-moving[0], 0.0), transition=case,
                      transition_frames=length)  # fmt: skip
        return [first, second]
    if case == "night":
        return [shot(a, n, night=True), shot(b, n, night=True), shot(pick(b), n, night=True)]
    raise ValueError(f"unknown case {case!r}; cases are {', '.join(CASES)}")


def hard_film(cases: Sequence[str], seed: int = 0) -> HardFilm:
    """Every case of `cases` in turn, each entered by a cut, the same seed the same film."""
    rng = np.random.default_rng(seed)
    film = HardFilm()
    previous = -1
    for case in cases:
        film.shots += case_shots(case, rng, previous)
        previous = film.shots[-1].still
    # The first shot has no transition into it.
    film.shots[0] = HardShot(**{**film.shots[0].__dict__, "transition": "cut",
                                "transition_frames": 0})  # fmt: skip
    return film


def score(
    found: Sequence[tuple[int, str]], truth: Sequence[Boundary], tolerance: int
) -> dict[str, dict[str, float]]:
    """F1, precision and recall over all boundaries, over cuts and over gradual ones apart.
    `found` is (frame, kind) pairs; one matches at most one true boundary within `tolerance`
    frames and counts for that one's class; one matching nothing counts for its own kind's."""
    unmatched = list(truth)
    hits: list[Boundary] = []
    false: list[str] = []
    for frame, kind in sorted(found):
        near = [t for t in unmatched if abs(t.frame - frame) <= tolerance]
        if near:
            best = min(near, key=lambda t: abs(t.frame - frame))
            unmatched.remove(best)
            hits.append(best)
        else:
            false.append("cut" if kind == "cut" else "gradual")
    result = {}
    for name, wanted in (("all", ("cut", "gradual")), ("cut", ("cut",)), ("gradual", ("gradual",))):
        cls = [t for t in truth if _class(t.kind) in wanted]
        hit = sum(_class(t.kind) in wanted for t in hits)
        wrong = sum(f in wanted for f in false)
        precision = hit / (hit + wrong) if hit + wrong else 1.0
        recall = hit / len(cls) if cls else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[name] = {"f1": f1, "precision": precision, "recall": recall,
                        "true": len(cls), "false": wrong, "missed": len(cls) - hit}  # fmt: skip
    return result


def _class(kind: str) -> str:
    return "cut" if kind == "cut" else "gradual"
