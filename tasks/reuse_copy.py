"""Reused frames copied, not redrawn: the earlier unit's FFV1 packets, checked on small data.

Decoding an earlier unit's source and output, laying its faces on this frame and encoding the
result cost about what computing the frame costs at small sizes, so a reused frame saved little
(tasks.reuse). Here every swapped unit also leaves `checks.bin`, per frame: its source's luma in
SCALE x SCALE block means, and how far its output is from its source (the luma's squared error,
and how many pixels changed). A later unit decodes only its own source, once, and for each
candidate frame (tasks.reuse.find) compares block means:
- the worst TILE x TILE tile below `reuse_min_psnr`: another picture, computed;
- the earlier swap wrote no face there: this frame is its own output (no model runs);
- else the earlier output's packet is copied as it is (FFV1 is intra-only: no decode, no
  encode) when the estimated loss stays within COPY_LOSS_DB of the earlier render's own
  closeness; otherwise the earlier faces are laid on this frame as before (ReusePlan.take).
The copy carries the earlier encode's picture around the faces, so its error against this
source is the earlier output's own plus the difference of the two sources. The block means keep
only the low frequencies of that difference: a re-encode's noise is up to NOISE_GAIN times what
they keep (measured on bench/versions.py's films, CRF 18 against CRF 23: median 6.5, at most
10.1), so the estimate takes it at that.
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np

from tasks import reuse
from tasks.faces import passthrough, pipeline
from tasks.faces.engine import FaceEngine, FrameResult
from tasks.faces.pipeline import Image
from tasks.faces.settings import Settings
from tasks.media.frames import to_rgb
from tasks.progress import Progress
from tasks.spec import ShotFaces, UnitResult

log = logging.getLogger(__name__)

CHECKS = "checks.bin"
OWN = -1  # the unit's own source, among the files whose packets it is made of
SCALE = 4  # block means of SCALE x SCALE luma pixels
NOISE_GAIN = 10.0
COPY_LOSS_DB = 0.5
_FIX = 8  # block means stored as uint16 in 1/8 levels


def block_means(y: np.ndarray) -> np.ndarray:
    """Luma (float) in SCALE x SCALE block means, as stored: uint16 in 1/_FIX levels."""
    h, w = y.shape[0] // SCALE * SCALE, y.shape[1] // SCALE * SCALE
    blocks = y[:h, :w].astype(np.float32).reshape(h // SCALE, SCALE, w // SCALE, SCALE)
    means: np.ndarray = np.rint(blocks.mean(axis=(1, 3)) * _FIX).astype(np.uint16)
    return means


def luma_of(frame: av.VideoFrame) -> np.ndarray:
    """The luma `reuse.luma` gives for this picture's RGB, read off its Y plane where that is
    the same (an upright 8-bit YUV picture), else through RGB."""
    name = frame.format.name
    luma: np.ndarray
    if frame.rotation or not name.startswith(("yuv", "yuvj")) or name.endswith(("le", "be")):
        luma = reuse.luma(to_rgb(frame)).astype(np.float32)
        return luma
    plane = frame.planes[0]
    raw = np.frombuffer(memoryview(plane), np.uint8)
    y = raw.reshape(-1, plane.line_size)[: frame.height, : frame.width].astype(np.float32)
    if name.startswith("yuvj") or frame.color_range == 2:  # full range
        return y
    luma = np.clip((y - 16.0) * (255.0 / 219.0), 0, 255)
    return luma


@dataclass
class Checks:
    """A unit's per-frame check data, by frame index in the unit: its source's block means,
    its output's squared luma error to that source and how many pixels it changed, and the
    changed pixels themselves (their bounding box, and the crop in RGBA whose alpha is the
    change), so a later unit lays them on its own frame without decoding this one's files."""

    small: dict[int, np.ndarray] = field(default_factory=dict)
    sse: dict[int, float] = field(default_factory=dict)
    changed: dict[int, int] = field(default_factory=dict)
    box: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    patch: dict[int, bytes] = field(default_factory=dict)

    def add(self, index: int, source: Image, output: Image) -> None:
        src = reuse.luma(source)
        self.small[index] = block_means(src)
        diff = reuse.luma(output).astype(np.int32) - src
        self.sse[index] = float((diff * diff).sum())
        mask = reuse.changed(output, source) if self.sse[index] or output is not source else None
        if mask is None or not mask.any():
            self.changed[index], self.box[index], self.patch[index] = 0, (0, 0, 0, 0), b""
            return
        x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
        alpha = mask[y : y + h, x : x + w].astype(np.uint8) * 255
        crop = np.dstack([output[y : y + h, x : x + w], alpha])
        self.changed[index], self.box[index] = int(mask.sum()), (x, y, w, h)
        self.patch[index] = crop.tobytes()

    def laid(self, index: int, source: Image) -> tuple[Image, float] | None:
        """`source` with this unit's frame `index`'s changes laid on it, and its squared luma
        error to `source`, if that leaves it as close to `source` as the frame was to its
        own, within reuse.MAX_LOSS_DB; else None."""
        x, y, w, h = self.box[index]
        if not w or y + h > source.shape[0] or x + w > source.shape[1]:
            return None
        crop = np.frombuffer(self.patch[index], np.uint8).reshape(h, w, 4)
        mask = crop[..., 3] > 0
        theirs, mine = np.ascontiguousarray(crop[..., :3]), source[y : y + h, x : x + w]
        d = reuse.luma(theirs)[mask].astype(np.float32) - reuse.luma(mine)[mask]
        sse = float((d * d).sum())
        if sse > max(self.sse[index], float(mask.sum())) * 10 ** (reuse.MAX_LOSS_DB / 10):
            return None
        out = source.copy()
        np.copyto(out[y : y + h, x : x + w], theirs, where=mask[..., None])
        return out, sse

    def moved(self, where: list[int]) -> Checks:
        """Indices i -> where[i] (a subset's positions to the unit's frames)."""
        parts = (self.small, self.sse, self.changed, self.box, self.patch)
        return Checks(*({where[i]: v for i, v in part.items()} for part in parts))  # type: ignore[arg-type]

    def take(self, index: int, other: Checks, old: int, sse: float) -> None:
        """Frame `old` of `other`'s changes as this unit's frame `index`'s, with an error of
        `sse` (none: the frame is its own source)."""
        if not sse:
            self.sse[index], self.changed[index], self.box[index] = 0.0, 0, (0, 0, 0, 0)
            self.patch[index] = b""
            return
        self.sse[index], self.changed[index] = sse, other.changed[old]
        self.box[index], self.patch[index] = other.box[old], other.patch[old]

    def write(self, path: Path, frames: int) -> Path:
        """Deterministic bytes (the same frames give the same file): zlib over .npy arrays."""
        if sorted(self.small) != list(range(frames)) or sorted(self.patch) != list(range(frames)):
            raise RuntimeError(f"checks: {len(self.small)} frames of {frames}")
        at = range(frames)
        buf = io.BytesIO()
        np.save(buf, np.stack([self.small[i] for i in at]))
        np.save(buf, np.array([self.sse[i] for i in at], np.float64))
        np.save(buf, np.array([self.changed[i] for i in at], np.int64))
        np.save(buf, np.array([self.box[i] for i in at], np.int32).reshape(frames, 4))
        np.save(buf, np.array([len(self.patch[i]) for i in at], np.int64))
        np.save(buf, np.frombuffer(b"".join(self.patch[i] for i in at), np.uint8))
        path.write_bytes(zlib.compress(buf.getvalue(), 1))
        return path

    @staticmethod
    def read(path: Path) -> Checks:
        buf = io.BytesIO(zlib.decompress(path.read_bytes()))
        small, sse, changed, box, sizes, blob = (np.load(buf) for _ in range(6))
        ends = np.cumsum(sizes)
        raw = blob.tobytes()
        return Checks(
            dict(enumerate(small)),
            dict(enumerate(sse.tolist())),
            dict(enumerate(changed.tolist())),
            {i: (int(b[0]), int(b[1]), int(b[2]), int(b[3])) for i, b in enumerate(box)},
            {i: raw[int(e - n) : int(e)] for i, (e, n) in enumerate(zip(ends, sizes, strict=True))},
        )


class Unchecked(Checks):
    """No check data (a unit no later render reuses: a scoped re-render's)."""

    def add(self, index: int, source: Image, output: Image) -> None:
        return None


class CheckedPlan(reuse.ReusePlan):
    """The frames checked on block means (swap_unit): `plain` ones are their own output,
    `laid` ones get the earlier changes from the check data; others as reuse.ReusePlan.
    `taken`: frames taken either way -> their squared luma error (for the unit's checks)."""

    laid: set[int]
    taken: dict[int, float]

    def take(
        self, frame: int, source: np.ndarray
    ) -> tuple[np.ndarray, list[dict[str, Any]]] | None:
        if frame not in self.laid:
            if frame in self.plain:
                self.taken[frame] = 0.0
            return super().take(frame, source)
        r, old = self.frames[frame]
        got = self.fetched[r]
        checks = checks_of(got)
        out = checks.laid(old, source) if checks is not None else None
        if out is None:
            return None
        self.taken[frame] = out[1]
        return out[0], list(got.faces.get("frames", {}).get(str(old), []))


class _Computed(Checks):
    """Check data of the frames computed or laid on from decoded files; frames the plan
    took from check data are filled in afterwards (swap_unit)."""

    def __init__(self, plan: CheckedPlan) -> None:
        super().__init__()
        self.plan = plan

    def add(self, index: int, source: Image, output: Image) -> None:
        if index not in self.plan.taken:
            super().add(index, source, output)


def tile_psnr_small(a: np.ndarray, b: np.ndarray) -> float:
    """tasks.reuse.tile_psnr on block means: the worst TILE x TILE tile's Y-PSNR."""
    if a.shape != b.shape:
        return 0.0
    diff = (a.astype(np.float32) - b.astype(np.float32)) / _FIX
    t = max(1, reuse.TILE // SCALE)
    h, w = diff.shape
    th, tw = min(t, h), min(t, w)
    tiles = (diff[: h // th * th, : w // tw * tw] ** 2).reshape(h // th, th, w // tw, tw)
    worst = float(tiles.mean(axis=(1, 3)).max())
    return 99.0 if worst <= 1e-10 else float(10 * np.log10(255.0**2 / worst))


def copy_loss_ok(mine: np.ndarray, theirs: np.ndarray, sse: float, changed: int) -> bool:
    """Whether the earlier output, copied whole, stays as close to this source as it was to
    its own, within COPY_LOSS_DB: its error plus the two sources' difference (estimated)."""
    diff = (mine.astype(np.float32) - theirs.astype(np.float32)) / _FIX
    between = float((diff * diff).sum()) * SCALE * SCALE * NOISE_GAIN
    log.debug("copy check: sse %.0f changed %d between %.0f", sse, changed, between)
    return sse + between <= max(sse, float(changed)) * 10 ** (COPY_LOSS_DB / 10)


def checks_of(got: reuse.Fetched) -> Checks | None:
    """The fetched unit's check data (None for a record without it)."""
    if got.checks is None:
        return None
    if got.checks_read is None:
        got.checks_read = Checks.read(got.checks)
    return got.checks_read if isinstance(got.checks_read, Checks) else None


class Packets:
    """An FFV1 file's packets by frame index, read forward (a step back reopens it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._open()

    def _open(self) -> None:
        self.container = av.open(str(self.path))
        self.stream = self.container.streams.video[0]
        self._it = (p for p in self.container.demux(self.stream) if p.size)
        self._next = 0

    def get(self, index: int) -> av.Packet[Any]:
        if index < self._next:
            self.container.close()
            self._open()
        for packet in self._it:
            self._next += 1
            if self._next - 1 == index:
                return packet
        raise IndexError(f"{self.path} has no frame {index}")

    def close(self) -> None:
        self.container.close()


def signature(stream: av.VideoStream) -> tuple[Any, ...]:
    """What two FFV1 streams must share for their packets to share one file (as scope.splice
    checks): codec, size, pixel format and codec configuration."""
    c = stream.codec_context
    return (c.name, c.width, c.height, c.pix_fmt, c.extradata)


def splice(
    kinds: list[tuple[int, int] | None],
    earlier: Mapping[int, Packets | None],
    computed: Path | None,
    out: Path,
    fps: str,
) -> None:
    """The unit's file: frame i is earlier[k]'s packet j where kinds[i] == (k, j), else the
    next packet of `computed`; frame i at pts i in a 1/fps time base, as FrameWriter writes."""
    mine = av.open(str(computed)) if computed is not None else None
    try:
        first = next(_packets_of(earlier, k) for k in kinds if k is not None)
        news = (p for p in mine.demux(mine.streams.video[0]) if p.size) if mine else iter(())
        # The unit's own source's stream where it joins (its colour tags), else any of them.
        own = earlier.get(OWN)
        template = own.stream if own else mine.streams.video[0] if mine else first.stream
        base = 1 / Fraction(fps)
        with av.open(str(out), "w", format="matroska") as sink:
            stream = sink.add_stream_from_template(template)
            for i, kind in enumerate(kinds):
                packet = next(news) if kind is None else _packet(earlier, kind)
                packet.stream = stream
                packet.time_base = base
                packet.pts = packet.dts = i
                packet.duration = 1
                sink.mux(packet)
    finally:
        if mine is not None:
            mine.close()


def _packets_of(earlier: Mapping[int, Packets | None], kind: tuple[int, int]) -> Packets:
    got = earlier[kind[0]]
    if got is None:
        raise RuntimeError(f"frame {kind[1]} of earlier unit {kind[0]} cannot be copied")
    return got


def _packet(earlier: Mapping[int, Packets | None], kind: tuple[int, int]) -> av.Packet[Any]:
    return _packets_of(earlier, kind).get(kind[1])


def _frames(path: Path) -> Iterator[av.VideoFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def swap_unit(
    make_engine: Callable[[], FaceEngine],
    owner: list[int],
    source: Path,
    tmp: Path,
    fps: str,
    label: str,
    found: reuse.ReusePlan,
) -> tuple[UnitResult, dict[str, Path], dict[str, Any]]:
    """The unit's swap with the earlier frames `found` may hold: each checked on block means
    as this unit's source is decoded (once), then copied, taken as its own source, laid on,
    or computed. The result, the files (swapped, checks) and the faces log."""
    from tasks.stages.swap import SWAPPED, UnitSwap

    started = time.perf_counter()
    told: Counter[str] = Counter()
    letters: list[str] = []  # each frame's kind's first letter, for the debug log
    todo: list[int] = []  # unit frames that go through the pipeline, in order
    copies: dict[int, tuple[int, int]] = {}  # unit frame -> (fetched slot, earlier frame)
    own = CheckedPlan(min_psnr=found.min_psnr, fetched=found.fetched)
    own.laid, own.taken = set(), {}
    small: dict[int, np.ndarray] = {}
    segment: list[int] = []  # per todo frame: its run (a new one at a cut or after a copy)
    packets: dict[int, Packets | None] = {}
    like = passthrough.like_of(source)  # written in the unit's format (tasks.faces.passthrough)
    own_packets = like is not None and like.packets  # an FFV1 unit's, kept
    owns: set[int] = set()  # frames that are this unit's own source packets
    unchanged: set[int] = set()  # todo positions the pipeline left as they were
    if own_packets:
        packets[OWN] = Packets(source)
    want = _wanted(packets.get(OWN), like)

    def frames() -> Iterator[Any]:
        for i, frame in enumerate(_frames(source)):
            small[i] = block_means(luma_of(frame))
            kind = _decide(i, small[i], found, packets, want)
            told[kind] += 1
            letters.append(kind[0])
            if kind == "copy" or (kind == "source" and own_packets):
                copies[i] = found.frames[i]  # the earlier packet, or this unit's own
                if kind == "source":
                    owns.add(i)
                continue
            if kind != "compute":
                own.frames[len(todo)] = found.frames[i]
                {"source": own.plain, "laid": own.laid}.get(kind, set()).add(len(todo))
            gap = bool(todo) and (todo[-1] != i - 1 or owner[todo[-1]] != owner[i])
            segment.append((segment[-1] + gap) if segment else 0)
            todo.append(i)
            yield work.pictures.hold(frame) if kind == "compute" else frame

    class Work(UnitSwap):
        def key(self, index: int) -> int:
            return segment[index] * 2 + (index in self.plan.frames)

        def infer(self, batch: pipeline.Batch) -> list[FrameResult]:
            # Reused frames are converted here, not in the decoding thread: that one has the
            # decoding and the checks, this one little else on them (the two share the CPUs).
            frames = cast(list[Any], batch.frames)
            held = [f if isinstance(f, np.ndarray) else self.pictures.hold(f) for f in frames]
            batch.frames[:] = held
            return super().infer(batch)

        def _encode(self, source: Image, frame: Image) -> None:
            if own_packets and frame is source:  # this unit's own packet
                self.pictures.take(source)
                unchanged.add(self.seen + len(unchanged))
                return
            super()._encode(source, frame)

        @property
        def seen(self) -> int:
            return 0 if self.writer is None else self.writer.frames_written

    work = Work(make_engine, [], tmp / "computed.mkv", fps, label, own)
    work.like = like
    work.checks = _Computed(own)
    work.progress = Progress(log, label, len(owner))
    work.owner = _Owners(owner, todo)
    settings = Settings.from_env()
    try:
        batches = pipeline.batches(frames(), work.key, settings.batch)
        stats = pipeline.run(batches, work.infer, work.write, settings.queue)
    finally:
        count = work.close()
        own.close()
    if count + len(unchanged) != len(todo) or len(small) != len(owner):
        raise RuntimeError(f"{label}: decoded {len(small)} frames, expected {len(owner)}")
    kept = owns | {todo[pos] for pos in unchanged}
    kinds = [(OWN, i) if i in kept else copies.get(i) for i in range(len(owner))]
    try:
        if len(kept) == len(owner):  # every frame as split wrote it
            shutil.copyfile(source, tmp / SWAPPED)
        elif any(kinds):
            splice(kinds, packets, work.out if count else None, tmp / SWAPPED, fps)
        else:
            work.out.rename(tmp / SWAPPED)
    finally:
        for p in packets.values():
            if p is not None:
                p.close()
    checks = work.checks.moved(todo)
    checks.small.update(small)  # every frame's, as decoded here
    for pos, sse in own.taken.items():
        r, old = own.frames[pos]
        theirs = checks_of(found.fetched[r])
        assert theirs is not None
        checks.take(todo[pos], theirs, old, sse)
    for i, (r, old) in copies.items():
        theirs = checks_of(found.fetched[r])
        assert theirs is not None
        checks.take(i, theirs, old, 0.0 if i in owns else _copy_error(small[i], theirs, old))
    faces = _faces_log(work, todo, copies, found)
    work.owner = owner
    engine = work.engine if work.built else None
    spent = engine.timings.rounded() if engine else {}
    timings = {**spent, **{k: round(v, 4) for k, v in stats.busy.items()}}
    timings["pipeline"] = round(stats.wall, 4)
    per_shot = count_copies(work.per_shot(), owner, copies, found)
    result = UnitResult(
        unit_id="",
        stage="swap",
        frames=len(owner),
        faces_found=sum(s.faces_found for s in per_shot),
        faces_swapped=sum(s.faces_swapped for s in per_shot),
        per_shot=per_shot,
        seconds=time.perf_counter() - started,
        output="",
        backend=engine.backend.name if engine else "",
        timings=timings,
        efficiency=(
            round(engine.timings.inference() / stats.wall, 4) if engine and stats.wall else None
        ),
        frames_reused=sum(s.frames_reused for s in per_shot),
    )
    log.info("%s: frames %s", label, dict(told))
    log.debug("%s: kinds %s", label, "".join(letters))
    return result, {SWAPPED: tmp / SWAPPED, CHECKS: checks.write(tmp / CHECKS, len(owner))}, faces


class _Owners(list[int]):
    """The shot of each frame the pipeline has seen (todo positions), as UnitSwap reads it."""

    def __init__(self, owner: list[int], todo: list[int]) -> None:
        super().__init__()
        self._owner, self._todo = owner, todo

    def __getitem__(self, index: Any) -> Any:
        return self._owner[self._todo[index]]

    def __len__(self) -> int:
        return len(self._todo)

    def __iter__(self) -> Iterator[int]:
        return (self._owner[i] for i in self._todo)


def _wanted(own: Packets | None, like: passthrough.Like | None) -> Callable[[av.VideoStream], bool]:
    """Which earlier outputs' packets can join this unit's file: those encoded as this unit's
    own source (its format, and its colour tags, which decode them), else as the swap writes
    frames like `like` (tasks.faces.passthrough.writer; RGB FFV1 without one)."""
    if own is not None:
        theirs = (*signature(own.stream), *tags(own.stream))
        return lambda s: (*signature(s), *tags(s)) == theirs
    return lambda s: (
        signature(s)[0] == "ffv1"
        and (*signature(s), *tags(s)) == _reference(s.width, s.height, like)
    )


def tags(stream: av.VideoStream) -> tuple[int, int]:
    c = stream.codec_context
    return (c.colorspace, c.color_range)


def _packets(got: reuse.Fetched, want: Callable[[av.VideoStream], bool]) -> Packets | None:
    """The fetched unit's output packets, if they can be copied (`want`: see _wanted)."""
    made = got.output_cursor()
    if made is None:
        return None
    p = Packets(made.path)
    if want(p.stream):
        return p
    p.close()
    return None


_REFERENCE: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _reference(width: int, height: int, like: passthrough.Like | None) -> tuple[Any, ...]:
    """The signature and tags of what the swap writes now at that size, like `like`."""
    first = None if like is None else like.picture
    fmt = None if first is None else (first.format.name, first.colorspace, first.color_range)
    if (width, height, fmt) not in _REFERENCE:
        with tempfile.TemporaryDirectory(prefix="recast-ffv1-") as folder:
            path = Path(folder) / "ref.mkv"
            w = passthrough.writer(path, np.zeros((height, width, 3), np.uint8), "24", like)
            with w:
                w.write(np.zeros((height, width, 3), np.uint8))
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                _REFERENCE[width, height, fmt] = (*signature(stream), *tags(stream))
    return _REFERENCE[width, height, fmt]


def _decide(
    i: int,
    mine: np.ndarray,
    found: reuse.ReusePlan,
    packets: dict[int, Packets | None],
    want: Callable[[av.VideoStream], bool],
) -> str:
    """copy (the earlier packet), source (no face there: the frame is its own output), laid
    (the earlier changes from check data), lay (records without it: decoded and laid on, as
    reuse.ReusePlan.take does), or compute."""
    hit = found.frames.get(i)
    if hit is None:
        return "compute"
    r, old = hit
    got = found.fetched[r]
    checks = checks_of(got)
    if checks is None:
        return "lay"
    theirs = checks.small.get(old)
    if theirs is None or tile_psnr_small(mine, theirs) < found.min_psnr:
        return "compute"
    if not got.faces.get("frames", {}).get(str(old)):
        return "source"
    if not copy_loss_ok(mine, theirs, checks.sse[old], checks.changed[old]):
        return "laid"
    if r not in packets:
        packets[r] = _packets(got, want)
    return "copy" if packets[r] is not None else "laid"


def _copy_error(mine: np.ndarray, theirs: Checks, old: int) -> float:
    """A copied frame's squared luma error to this source, as copy_loss_ok estimates it."""
    diff = (mine.astype(np.float32) - theirs.small[old].astype(np.float32)) / _FIX
    return theirs.sse[old] + float((diff * diff).sum()) * SCALE * SCALE * NOISE_GAIN


def _faces_log(
    work: Any, todo: list[int], copies: dict[int, tuple[int, int]], found: reuse.ReusePlan
) -> dict[str, Any]:
    """The unit's faces log: the pipeline's frames at their places in the unit, and the copied
    frames' faces as the earlier unit logged them."""
    frames = {str(todo[int(k)]): v for k, v in work.faces.items()}
    compositor = {str(todo[int(k)]): v for k, v in work.compositor.items()}
    for i, (r, old) in sorted(copies.items()):
        got = found.fetched[r]
        if got.faces.get("frames", {}).get(str(old)):
            frames[str(i)] = got.faces["frames"][str(old)]
        if str(old) in got.faces.get("needs_compositor", {}):
            compositor[str(i)] = got.faces["needs_compositor"][str(old)]
    return {
        "frames": frames,
        "kept": sorted(todo[i] for i in work.kept),
        "reused": sorted([todo[i] for i in work.taken] + list(copies)),
        "needs_compositor": compositor,
    }


def count_copies(
    per_shot: list[ShotFaces],
    owner: list[int],
    copies: dict[int, tuple[int, int]],
    found: reuse.ReusePlan,
) -> list[ShotFaces]:
    """per_shot rows with the copied frames counted: reused, and their logged faces."""
    extra: dict[int, Counter[str]] = {}
    faces: Counter[int] = Counter()
    for i, (r, old) in copies.items():
        got = found.fetched[r]
        extra.setdefault(owner[i], Counter())[got.run] += 1
        faces[owner[i]] += len(got.faces.get("frames", {}).get(str(old), []))
    rows = []
    for s in per_shot:
        n = sum(extra.get(s.shot, Counter()).values())
        rows.append(
            s.model_copy(
                update={
                    "frames_reused": s.frames_reused + n,
                    "faces_found": s.faces_found + faces[s.shot],
                    "faces_swapped": s.faces_swapped + faces[s.shot],
                    "reused_from": s.reused_from
                    or (extra[s.shot].most_common(1)[0][0] if n else None),
                }
            )
        )
    return rows
