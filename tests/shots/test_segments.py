"""Thumbnails decoded in parallel segments equal the in-order decode, frame for frame."""

from __future__ import annotations

import logging
import subprocess
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks.media.packets import PacketScan, scan_packets
from tasks.media.probe import probe
from tasks.shots import detect, segments
from tasks.shots.detect import detect_shots
from tasks.shots.segments import (
    FrameTable,
    Sampling,
    SegmentError,
    parallel_thumbnails,
    plan_segments,
    table_of,
)
from tasks.shots.signals import THUMB_SIZE
from tasks.spec import SpecError

LENGTHS = [20, 13, 17, 31, 9, 25]


def _table(film: Path) -> FrameTable:
    return table_of(scan_packets(film))


def _reencode(source: Path, out: Path, x264: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:v", "libx264", "-crf", "20",
                    "-bf", "3", "-x264-params", x264, "-an", str(out)], check=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("segments")
    source = make_film(tmp / "source.mp4", varied_shots(LENGTHS), fps="25", size=(320, 180))
    return {
        # Keyframes every 12 frames, away from the cuts, B-frames across them.
        "closed": _reencode(source, tmp / "closed.mp4", "keyint=12:min-keyint=12:scenecut=0"),
        # Open GOPs: the pictures just before a keyframe (in display order) follow it in decode
        # order and lean on both sides.
        "open": _reencode(source, tmp / "open.mp4", "keyint=12:min-keyint=12:open-gop=1"),
    }


def _in_order(film: Path, sampling: Sampling | None = None) -> np.ndarray:
    info = probe(film)
    rate = Fraction(info.fps)
    return np.concatenate(list(detect._pyav_blocks(film, info, rate, THUMB_SIZE, sampling)))


@pytest.mark.parametrize("kind", ["closed", "open"])
@pytest.mark.parametrize("workers", [2, 3])
def test_segments_equal_the_in_order_decode(
    films: dict[str, Path], kind: str, workers: int
) -> None:
    film = films[kind]
    table = _table(film)
    segments = plan_segments(table, workers, length=10)
    assert len(segments) >= 5
    assert all(first in table.keyframes for first, _ in segments[1:])
    assert [end for _, end in segments[:-1]] == [first for first, _ in segments[1:]]
    blocks = list(parallel_thumbnails(film, table, THUMB_SIZE, workers=workers, length=10))
    assert [len(b) for b in blocks] == [end - first for first, end in segments]
    assert np.array_equal(np.concatenate(blocks), _in_order(film))


@pytest.mark.parametrize(("frames", "longest"), [(1_200, 100), (3_000, 250), (60_000, 300)])
def test_a_short_film_gets_shorter_segments(frames: int, longest: int) -> None:
    # About six segments a worker, 100 to 300 frames long: no worker idles long at the end.
    table = FrameTable(list(range(frames)), list(range(0, frames, 10)))
    lengths = [end - first for first, end in plan_segments(table, 2)]
    assert sum(lengths) == frames and max(lengths[:-1]) == min(lengths[:-1]) == longest
    assert len(lengths) >= 12


def test_one_worker_decodes_one_segment(films: dict[str, Path]) -> None:
    table = _table(films["closed"])
    assert plan_segments(table, 1, length=10) == [(0, sum(LENGTHS))]


def test_samples_are_the_same_frames_either_way(films: dict[str, Path]) -> None:
    film = films["open"]
    taken: dict[str, dict[int, np.ndarray]] = {"parallel": {}, "in order": {}}
    lock = threading.Lock()

    def sampling(into: dict[int, np.ndarray]) -> Sampling:
        def take(index: int, frame: np.ndarray) -> None:
            with lock:
                into[index] = frame

        return Sampling(every=7, width=64, height=36, take=take)

    table = _table(film)
    list(parallel_thumbnails(film, table, THUMB_SIZE, workers=2, length=10,
                             sampling=sampling(taken["parallel"])))  # fmt: skip
    _in_order(film, sampling(taken["in order"]))
    assert sorted(taken["parallel"]) == list(range(0, sum(LENGTHS), 7))
    assert sorted(taken["parallel"]) == sorted(taken["in order"])
    for index, frame in taken["parallel"].items():
        assert frame.shape == (36, 64, 3)
        assert np.array_equal(frame, taken["in order"][index])


def test_a_frame_out_of_place_is_refused(films: dict[str, Path]) -> None:
    table = _table(films["closed"])
    # The packet table says frame 30 comes later than it does: the segment holding it fails.
    wrong = replace(table, pts=[*table.pts[:30], table.pts[30] + 1, *table.pts[31:]])
    with pytest.raises(SegmentError, match="not where the packets put it"):
        list(parallel_thumbnails(films["closed"], wrong, THUMB_SIZE, workers=2, length=10))


def test_stopping_early_leaves_no_decoder_running(films: dict[str, Path]) -> None:
    table = _table(films["closed"])
    blocks = parallel_thumbnails(films["closed"], table, THUMB_SIZE, workers=2, length=10)
    assert len(next(blocks)) >= 10
    blocks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("thumbs")]


def test_detection_falls_back_to_the_in_order_decode(
    films: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    film = films["open"]
    parallel = detect_shots(film, sparse_decode=False)
    starts = [0, *np.cumsum(LENGTHS)[:-1].tolist()]
    assert [s.start_frame for s in parallel.shots] == starts
    # B-frames drawn, not decoded: the same shots (their fingerprints hash drawn frames).
    sparse = detect_shots(film)
    assert [(s.start_frame, s.transition) for s in sparse.shots] == [
        (s.start_frame, s.transition) for s in parallel.shots
    ]

    def broken(scan: PacketScan) -> FrameTable:
        raise SegmentError("no table today")

    monkeypatch.setattr(detect, "table_of", broken)
    with caplog.at_level(logging.WARNING):
        fallback = detect_shots(film, sparse_decode=False)
    assert "decoding in order" in caplog.text
    assert fallback == parallel


def test_the_probe_takes_the_packets_detection_read(
    films: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One demux serves the frame table and the probe (about 30 us a packet, per film frame).
    read: list[int] = []

    def counted(path: Path, stream_index: int | None = None) -> PacketScan:
        scan = scan_packets(path, stream_index)
        read.append(scan.stream)
        return scan

    monkeypatch.setattr(detect, "scan_packets", counted)
    shots = detect_shots(films["closed"])
    assert read == [0] and shots.frame_count == sum(LENGTHS)


def test_a_truncated_film_is_refused_for_what_the_probe_says(
    films: dict[str, Path], tmp_path: Path
) -> None:
    # The decode starts beside the probe; the probe's reason is the one reported, and no
    # decoder is left running.
    data = films["closed"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError) as probed:
        probe(cut)
    with pytest.raises(SpecError) as detected:
        detect_shots(cut)
    assert str(detected.value) == str(probed.value)
    assert not [t for t in threading.enumerate() if t.name.startswith("thumbs")]


@pytest.mark.parametrize("ext", [".mkv", ".mov", ".ts"])
def test_other_containers_give_the_same_frames_or_decline(
    films: dict[str, Path], ext: str, tmp_path: Path
) -> None:
    # Remuxed, not re-encoded: the same pictures under another container's timestamps and
    # seeking. A container that seeks inexactly may decline (SegmentError: detection then
    # decodes in order), never hand over a wrong frame.
    film = tmp_path / f"film{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(films["open"]), "-c", "copy",
                    str(film)], check=True)  # fmt: skip
    table = _table(film)
    try:
        blocks = list(parallel_thumbnails(film, table, THUMB_SIZE, workers=2, length=10))
    except SegmentError:
        assert ext == ".ts", f"{ext} should seek exactly"
        return
    assert np.array_equal(np.concatenate(blocks), _in_order(film))


@pytest.mark.parametrize("kind", ["closed", "open", "veryfast"])
def test_sparse_decoded_frames_are_exact_and_the_rest_drawn_between(
    films: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Calm B-frames are drawn, not decoded; every frame that is decoded (the I- and P-frames,
    # the B-frames of busy runs, the sampled frames) equals the full decode: skipping x264's
    # B-frames, pyramid references included, leaves no other frame different. The default
    # preset keeps 3 references, veryfast 1.
    film = films.get(kind, tmp_path / "veryfast.mp4")
    if kind == "veryfast":
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(films["closed"]), "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "24", str(film)], check=True)  # fmt: skip
    flags: dict[int, np.ndarray] = {}  # each segment's decoded frames, by its first frame
    local = threading.local()
    drawn, sparse_decode = segments._drawn, segments._SegmentDecoder._decode_sparse

    def recorded(out: np.ndarray, decoded: np.ndarray) -> np.ndarray | None:
        thumbs = drawn(out, decoded)  # None: the segment is decoded whole instead
        flags[local.first] = decoded.copy() if thumbs is not None else np.ones_like(decoded)
        return thumbs

    def started(decoder: segments._SegmentDecoder, first: int, end: int) -> np.ndarray | None:
        local.first = first
        return sparse_decode(decoder, first, end)

    monkeypatch.setattr(segments, "_drawn", recorded)
    monkeypatch.setattr(segments._SegmentDecoder, "_decode_sparse", started)
    taken: dict[int, np.ndarray] = {}
    sampling = Sampling(every=7, width=64, height=36, take=taken.__setitem__)
    table = _table(film)
    sparse = np.concatenate(list(parallel_thumbnails(film, table, THUMB_SIZE, workers=2,
                                                     length=10, sparse=True,
                                                     sampling=sampling)))  # fmt: skip
    full = _in_order(film)
    decoded = np.concatenate([flags[first] for first in sorted(flags)])
    assert len(decoded) == len(full) and 0 < decoded.sum() < len(full)
    assert np.array_equal(sparse[decoded], full[decoded])
    assert sorted(taken) == list(range(0, len(full), 7)) and all(decoded[::7])
    for i in np.flatnonzero(~decoded):  # between its decoded neighbours, pixel by pixel
        before, after = decoded[:i].nonzero()[0][-1], i + decoded[i:].nonzero()[0][0]
        low = np.minimum(full[before], full[after])
        high = np.maximum(full[before], full[after])
        assert ((sparse[i] >= low) & (sparse[i] <= high)).all()
