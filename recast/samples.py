"""Synthesise real multi-shot films (H.264 + AAC in MP4) for demos and tests.

Each shot is a still with a gentle zoom, a pan or a fast pan, joined to the previous shot by a
hard cut, a dissolve or a fade through black, and a sine tone of its own frequency. A shot may
hold white flashes. The frames are rendered in numpy and piped to ffmpeg, so every shot starts
exactly where the caller put it: a dissolve or a fade of L frames (L even) spans L/2 frames
either side of that start, the frame where the new shot takes over. Demo stills are
scikit-image's sample images with clear licences: astronaut (NASA, public domain), camera,
coffee and chelsea (CC0).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
Motion = Literal["zoom", "pan", "static", "fastpan"]
Transition = Literal["cut", "dissolve", "fade"]
SAMPLE_RATE = 48_000
_ZOOM = 0.12  # how much a "zoom" shot closes in over its length; a "pan" shot holds this zoom
_PAN = 0.08  # how far a "pan" shot travels, as a share of the scaled still's width
_FAST_PAN = 0.05  # a "fastpan" travels this share of the frame width per frame
_FLASH = 0.8  # a flash frame is this much white


@dataclass(frozen=True)
class ShotSpec:
    """One shot of a synthetic film. `focus` is the (x, y) point of the still, as fractions
    of its size, that the frame is centred on (e.g. a face)."""

    image: np.ndarray
    frames: int
    tone_hz: float
    motion: Motion = "static"
    focus: tuple[float, float] = (0.5, 0.5)
    transition: Transition = "cut"  # how this shot begins
    transition_frames: int = 0  # length of that dissolve or fade (even)
    flashes: tuple[int, ...] = ()  # frames of this shot (from 0) that flash white


def make_film(
    path: Path,
    shots: Sequence[ShotSpec],
    *,
    fps: str = "24",
    size: tuple[int, int] = (640, 360),
    audio: bool = True,
) -> Path:
    """Render `shots` back to back into an H.264/yuv420p MP4 at `fps`, with AAC tones."""
    width, height = size
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"size {size} must be positive and even (yuv420p)")
    if not shots or any(s.frames <= 0 for s in shots):
        raise ValueError("a film needs at least one shot, each with at least one frame")
    rate = Fraction(fps)
    with tempfile.TemporaryDirectory(prefix="recast-film-") as tmp:
        tone = _write_tones(Path(tmp) / "tone.wav", shots, rate) if audio else None
        cmd = _ffmpeg_command(path, width, height, fps, tone)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for frame in _film_frames(shots, width, height):
                proc.stdin.write(frame.tobytes())
        finally:
            proc.stdin.close()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed to write {path}: {stderr.strip()[-500:]}")
    log.info("wrote %s: %d shots, %d frames", path, len(shots), sum(s.frames for s in shots))
    return path


def demo_shots() -> list[ShotSpec]:
    """A 7.25 s film at 24 fps: shots with faces and without, each very unlike the next."""
    return varied_shots([48, 30, 42, 24, 30])


def varied_shots(lengths: Sequence[int]) -> list[ShotSpec]:
    """Shots of the given lengths cycling through four unlike stills, motions and tones."""
    from skimage import data

    stills = [
        (data.astronaut(), (0.44, 0.22)),  # face, colour
        (data.coffee(), (0.5, 0.5)),  # no face, warm browns
        (_as_rgb(data.camera()), (0.42, 0.27)),  # face in profile, greyscale
        (data.chelsea(), (0.5, 0.5)),  # no face, a cat
    ]
    motions: list[Motion] = ["zoom", "pan", "zoom", "static", "pan"]
    tones = [440.0, 554.37, 659.25, 329.63, 392.0, 493.88]
    shots = []
    for i, frames in enumerate(lengths):
        image, focus = stills[i % len(stills)]
        shots.append(ShotSpec(image, frames, tones[i % len(tones)], motions[i % 5], focus))
    return shots


def _ffmpeg_command(path: Path, width: int, height: int, fps: str, tone: Path | None) -> list[str]:
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{width}x{height}", "-framerate", fps, "-i", "pipe:0"]
    if tone is not None:
        cmd += ["-i", str(tone)]
    cmd += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "128k"] if tone else [])
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
    return [*cmd, "-movflags", "+faststart", str(path)]


class _ShotRenderer:
    """Frame i of a shot; i may run before 0 or past its end (the handles of a transition)."""

    def __init__(self, shot: ShotSpec, width: int, height: int) -> None:
        self.shot, self.width, self.height = shot, width, height
        still = _cover(_as_rgb(shot.image), width, height, 1.0 + _ZOOM)
        if shot.motion == "fastpan":  # room to travel: the still, mirrored, then again
            still = np.concatenate([still, still[:, ::-1], still], axis=1)
        self.still = still

    def frame(self, i: int) -> np.ndarray:
        shot, still = self.shot, self.still
        big_h, big_w = still.shape[:2]
        fx, fy = shot.focus[0] * big_w, shot.focus[1] * big_h
        t = i / max(shot.frames - 1, 1)
        zoom, cx = 1.0, fx
        if shot.motion == "zoom":
            zoom = 1.0 + _ZOOM * min(max(t, 0.0), 1.0)
        elif shot.motion == "pan":
            zoom, cx = 1.0 + _ZOOM, fx + (t - 0.5) * 2 * _PAN * big_w
        elif shot.motion == "fastpan":
            cx = self.width / 2 + (i + shot.transition_frames) * _FAST_PAN * self.width
        frame = _view(still, self.width, self.height, zoom, cx, fy)
        if i in shot.flashes:
            frame = (frame * (1 - _FLASH) + 255 * _FLASH).astype(np.uint8)
        return frame


def _film_frames(shots: Sequence[ShotSpec], width: int, height: int) -> Iterator[np.ndarray]:
    renderers = [_ShotRenderer(s, width, height) for s in shots]
    starts = np.cumsum([0] + [s.frames for s in shots]).tolist()
    for k, shot in enumerate(shots):
        for i in range(shot.frames):
            frame = renderers[k].frame(i)
            if k > 0 and i < shot.transition_frames // 2:  # second half of the way in
                frame = _blend(renderers[k - 1], renderers[k], starts[k - 1], starts[k], i)
            elif k + 1 < len(shots) and shot.frames - i <= shots[k + 1].transition_frames // 2:
                frame = _blend(
                    renderers[k], renderers[k + 1], starts[k], starts[k + 1], i - shot.frames
                )
            yield frame


def _blend(
    out: _ShotRenderer, into: _ShotRenderer, out_start: int, into_start: int, offset: int
) -> np.ndarray:
    """Frame `offset` (from the new shot's first frame) of a dissolve or fade between shots."""
    length = into.shot.transition_frames
    alpha = (offset + length / 2 + 0.5) / length  # share of the new shot, 0..1
    a = out.frame(into_start - out_start + offset).astype(np.float32)
    b = into.frame(offset).astype(np.float32)
    if into.shot.transition == "fade":  # out to black, then in from black: the middle two black
        half = length // 2
        mixed = a * max(0.0, (-1 - offset) / half) if offset < 0 else b * (offset / half)
    else:
        mixed = a * (1 - alpha) + b * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


def _cover(image: np.ndarray, width: int, height: int, zoom: float) -> np.ndarray:
    """Scale the still so that the frame fits inside it even at the widest view."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(image, size, interpolation=interpolation))


def _view(
    still: np.ndarray, width: int, height: int, zoom: float, cx: float, cy: float
) -> np.ndarray:
    """The width x height frame looking at (cx, cy) of `still`, magnified by `zoom`."""
    big_h, big_w = still.shape[:2]
    half_w, half_h = width / (2 * zoom), height / (2 * zoom)
    # Keep the view inside the still so no border ever shows.
    cx = min(max(cx, half_w), big_w - half_w)
    cy = min(max(cy, half_h), big_h - half_h)
    matrix = np.array([[1 / zoom, 0, cx - half_w], [0, 1 / zoom, cy - half_h]], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    frame = cv2.warpAffine(
        still, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(frame, dtype=np.uint8)


def _write_tones(path: Path, shots: Sequence[ShotSpec], rate: Fraction) -> Path:
    """Mono 16-bit WAV: each shot's sine starts on the sample where its first frame starts."""
    bounds = np.cumsum([0] + [s.frames for s in shots])
    samples = [round(Fraction(int(b)) / rate * SAMPLE_RATE) for b in bounds]
    pieces = []
    for shot, start, end in zip(shots, samples[:-1], samples[1:], strict=True):
        t = np.arange(end - start) / SAMPLE_RATE
        pieces.append(0.3 * np.sin(2 * np.pi * shot.tone_hz * t))
    pcm = (np.concatenate(pieces) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


def mixed_shots(count: int, seed: int = 0, *, fast_pans: bool = True) -> list[ShotSpec]:
    """`count` shots of 20-48 frames from eight unlike stills, joined by hard cuts (about half),
    dissolves and fades of 8-16 frames; some shots pan fast (none when `fast_pans` is False),
    some hold a one-frame flash. The same seed gives the same film."""
    from skimage import data

    rng = np.random.default_rng(seed)
    stills = [
        data.astronaut(),
        data.coffee(),
        _as_rgb(data.camera()),
        data.chelsea(),
        data.rocket(),
        data.immunohistochemistry(),
        _as_rgb(data.moon()),
        data.hubble_deep_field(),
    ]
    motions: list[Motion] = ["zoom", "pan", "static", "fastpan" if fast_pans else "zoom"]
    transitions: list[Transition] = ["cut", "cut", "dissolve", "fade"]
    shots, previous = [], -1
    for i in range(count):
        still = int(rng.choice([k for k in range(len(stills)) if k != previous]))
        previous = still
        frames = int(rng.integers(20, 49))
        transition: Transition = transitions[int(rng.integers(4))] if i else "cut"
        length = int(rng.choice([8, 12, 16])) if transition != "cut" else 0
        flash = (int(rng.integers(8, frames - 8)),) if rng.random() < 0.25 else ()
        motion = motions[int(rng.integers(4))]
        tone = 220.0 * 2 ** (i % 24 / 12)
        shots.append(
            ShotSpec(stills[still], frames, tone, motion, (0.5, 0.5), transition, length, flash)
        )
    return shots
