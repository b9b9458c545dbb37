"""read_frames / FrameWriter: the FFV1 mezzanine round-trips RGB24 bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.media.frames import FrameWriter, read_frames
from tasks.media.probe import probe
from tasks.spec import SpecError

from .conftest import FILM_SHOTS


def _frames(width: int, height: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    out = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count - 2)]
    out.append(np.broadcast_to(ramp, (height, width, 3)).copy())
    out.append(np.zeros((height, width, 3), dtype=np.uint8) + np.array([255, 0, 128], np.uint8))
    return out


@pytest.mark.parametrize(("width", "height", "fps"), [(97, 61, "30000/1001"), (64, 36, "24")])
def test_round_trip_is_bit_exact(tmp_path: Path, width: int, height: int, fps: str) -> None:
    frames = _frames(width, height, 12)
    path = tmp_path / "mezz.mkv"
    with FrameWriter(path, width, height, fps) as writer:
        for frame in frames:
            writer.write(frame)
    back = list(read_frames(path))
    assert len(back) == len(frames)
    for i, (sent, got) in enumerate(zip(frames, back, strict=True)):
        assert got.dtype == np.uint8 and got.shape == (height, width, 3)
        assert np.array_equal(sent, got), f"frame {i} changed"
    info = probe(path)
    assert (info.video_codec, info.pix_fmt, info.fps) == ("ffv1", "bgr0", fps)
    assert info.frame_count == len(frames)


def test_writer_refuses_wrong_frame(tmp_path: Path) -> None:
    with FrameWriter(tmp_path / "m.mkv", 32, 16, "25") as writer:
        with pytest.raises(SpecError, match="expected"):
            writer.write(np.zeros((16, 33, 3), dtype=np.uint8))
        writer.write(np.zeros((16, 32, 3), dtype=np.uint8))


def test_read_frames_of_film(film: Path) -> None:
    frames = list(read_frames(film))
    assert len(frames) == sum(FILM_SHOTS)
    assert all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in frames)


def test_read_frames_refuses_text(text_as_mp4: Path) -> None:
    with pytest.raises(SpecError):
        next(read_frames(text_as_mp4))
