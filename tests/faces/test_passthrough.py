"""Frames the swap leaves as they were keep their source packets (tasks.faces.passthrough)."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from tasks.faces import FaceEngine, Mapping
from tasks.faces.engine import FrameResult
from tasks.faces.pipeline import Batch
from tasks.media.frames import FrameWriter, read_frames
from tasks.spec import SpecError
from tasks.stages.swap import UnitSwap


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (48, 64, 3), np.uint8) for _ in range(count)]


def _source(path: Path, frames: list[np.ndarray], codec: str = "ffv1") -> Path:
    with FrameWriter(path, 64, 48, "24", codec=codec) as writer:  # type: ignore[arg-type]
        for frame in frames:
            writer.write(frame)
    return path


def _swap(source: Path, frames: list[np.ndarray], changed: set[int], out: Path) -> UnitSwap:
    """The swap stage's writing end, with the frames in `changed` replaced (inverted)."""
    work = UnitSwap(
        lambda: FaceEngine([Mapping(source=frames[0])]), [0] * len(frames), out, "24", source=source
    )
    results = [FrameResult(255 - f if i in changed else f, 0, 0) for i, f in enumerate(frames)]
    work.write(Batch(0, 0, frames), results)
    assert work.close() == len(frames)
    return work


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


@pytest.mark.parametrize("changed", [{1, 4}, set(), {0, 1, 2, 3, 4, 5}])
def test_unchanged_frames_keep_their_source_packets(tmp_path: Path, changed: set[int]) -> None:
    """Some, none or all frames replaced: the file decodes to the right frames, and every frame
    left as it was is the source's packet, byte for byte (not encoded again)."""
    frames = _frames(6)
    source = _source(tmp_path / "source.mkv", frames)
    work = _swap(source, frames, changed, tmp_path / "out.mkv")
    assert work.passing is not None
    expected = [255 - f if i in changed else f for i, f in enumerate(frames)]
    got = list(read_frames(tmp_path / "out.mkv"))
    assert len(got) == 6 and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    theirs, mine = _packets(source), _packets(tmp_path / "out.mkv")
    assert [theirs[i] == mine[i] for i in range(6)] == [i not in changed for i in range(6)]
    assert not work.passing.computed.exists()


def test_a_unit_of_x264_packets_is_written_in_its_pixel_format(tmp_path: Path) -> None:
    """A unit split as x264 packets (copied from the film, here yuv444p): no packets to keep,
    but the unit is FFV1 in that pixel format; frames left as they were are the decoded
    pictures exactly (no RGB round trip), a replaced one is the swap's frame within a floor."""
    source = _source(tmp_path / "source.mkv", _frames(3), codec="h264")
    work = UnitSwap(lambda: FaceEngine([]), [0] * 3, tmp_path / "out.mkv", "24", source=source)
    assert work.passing is None
    frames = list(work.pictures.read(source))  # as the swap stage reads it
    results = [FrameResult(255 - f if i == 1 else f, 0, 0) for i, f in enumerate(frames)]
    work.write(Batch(0, 0, frames), results)
    assert work.close() == 3
    with av.open(str(tmp_path / "out.mkv")) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == ("ffv1", "yuv444p")
    planes, got = _planes(source), _planes(tmp_path / "out.mkv")
    for i in (0, 2):
        assert all(np.array_equal(a, b) for a, b in zip(planes[i], got[i], strict=True))
    assert _y_psnr(list(read_frames(tmp_path / "out.mkv"))[1], 255 - frames[1]) > 40.0


def test_a_source_encoded_otherwise_is_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """RGB FFV1 with other options (one slice, no CRCs): the packets cannot be mixed with the
    swap's, so the unit is decoded and written again, still lossless."""
    frames = _frames(4)
    source = tmp_path / "source.mkv"
    with av.open(str(source), "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "bgr0"
        stream.options = {"level": "3", "slices": "1", "slicecrc": "0"}
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    with caplog.at_level(logging.INFO, logger="tasks.faces.passthrough"):
        _swap(source, frames, {2}, tmp_path / "out.mkv")
    assert "written again" in caplog.text
    expected = [255 - f if i == 2 else f for i, f in enumerate(frames)]
    got = list(read_frames(tmp_path / "out.mkv"))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_a_damaged_source_is_left_to_the_decoder(tmp_path: Path) -> None:
    """Not a film at all: no packets are offered, and decoding names the file."""
    from tasks.faces import passthrough

    junk = tmp_path / "source.mkv"
    junk.write_bytes(b"not a film")
    assert not passthrough.usable(junk)
    with pytest.raises(SpecError, match=r"source\.mkv: cannot open"):
        next(read_frames(junk))


def _yuv_unit(tmp_path: Path, pix_fmt: str, count: int = 6) -> Path:
    """A unit as split writes it from an x264 film in `pix_fmt`: FFV1 in that format."""
    import subprocess

    from tasks.media.frames import NATIVE_FORMATS, MezzanineFormat, NativeWriter

    film = tmp_path / f"film-{pix_fmt}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24",
         "-frames:v", str(count), "-c:v", "libx264", "-pix_fmt", pix_fmt, str(film)],
        check=True,
    )  # fmt: skip
    unit = tmp_path / f"unit-{pix_fmt}.mkv"
    options = NATIVE_FORMATS["ffv1"].options
    with av.open(str(film)) as container:
        pictures = list(container.decode(video=0))
    with NativeWriter(unit, pictures[0], "24", MezzanineFormat("ffv1", pix_fmt, options)) as w:
        for picture in pictures:
            w.write(picture)
    return unit


def _planes(path: Path) -> list[list[np.ndarray]]:
    """Every frame's planes as decoded, at their own bit depth."""
    with av.open(str(path)) as container:
        return [
            [np.frombuffer(memoryview(p), np.uint8).copy() for p in frame.planes]
            for frame in container.decode(video=0)
        ]


def _y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    luma = np.array([0.299, 0.587, 0.114])
    mse = float(((a.astype(float) @ luma - b.astype(float) @ luma) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_a_yuv_unit_keeps_its_format_and_its_untouched_frames(tmp_path: Path, pix_fmt: str) -> None:
    """A unit split into YUV (8 or 10 bits): the swap's unit is FFV1 in that same format; every
    frame left as it was is split's packet byte for byte (so a 10-bit frame keeps its 10 bits),
    and a replaced frame decodes to the RGB the swap wrote within a PSNR floor (converted back
    with the unit's own matrix)."""
    unit = _yuv_unit(tmp_path, pix_fmt)
    frames = list(read_frames(unit))
    changed = {1, 4}
    work = _swap(unit, frames, changed, tmp_path / "out.mkv")
    assert work.passing is not None
    with av.open(str(tmp_path / "out.mkv")) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == ("ffv1", pix_fmt)
    theirs, mine = _packets(unit), _packets(tmp_path / "out.mkv")
    assert [theirs[i] == mine[i] for i in range(6)] == [i not in changed for i in range(6)]
    planes, got_planes = _planes(unit), _planes(tmp_path / "out.mkv")
    for i in set(range(6)) - changed:
        assert all(np.array_equal(a, b) for a, b in zip(planes[i], got_planes[i], strict=True))
    got = list(read_frames(tmp_path / "out.mkv"))
    for i in changed:
        assert _y_psnr(got[i], 255 - frames[i]) > 40.0
    for i in set(range(6)) - changed:
        assert np.array_equal(got[i], frames[i])
