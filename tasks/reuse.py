"""Reuse of already-swapped frames across versions of a cut, and within one film.

Every swapped unit leaves a record in the unit cache, `<cache>/shots/<settings>/<run>--<unit>.json`:
its shot pieces with their frame fingerprints (tasks.shots.fingerprint), and the cache entries
holding its source frames, swapped frames and faces log, each with its sha256. `settings` is a
hash of what decides the swap's pixels apart from the frames themselves (face images by hash,
models, parameters, mezzanine, cache format), so a render with other settings never sees them.

A new unit looks its shot pieces up there: the earlier piece and frame offset whose hashes
agree most (trimmed, moved, in another asset or earlier in this film), frame by frame. A
fingerprint match is only a candidate: each frame is then compared with the earlier render's
own source frame, and reused only when the Y-PSNR of the two over their worst 32x32 tile is
at least `reuse_min_psnr` dB, so another take of the same framing (a face that moved, another
expression) is computed, not reused. A reused frame is this version's own frame with the
earlier render's changes laid on it (its output where it differs from its source: the faces).
Entries whose files fail their sha256 (corrupted, half written, pruned) are skipped: their
frames are computed. Records are written once per unit,
entries are never changed, so concurrent renders read and write them safely.
"""

from __future__ import annotations

import atexit
import bisect
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from tasks import storage
from tasks.checkpoint import OutputRecord, cache_key, read_marker
from tasks.layout import RunLayout
from tasks.media.frames import to_rgb
from tasks.shots import fingerprint
from tasks.spec import ShotList, Unit

log = logging.getLogger(__name__)

# Fingerprints within this many bits (of 64) are candidates; a re-encode moves a few bits.
MAX_BITS = 8
TILE = 32
# A reused frame must be as close to this version's source (Y-PSNR over the frame) as a render
# of it from scratch, within this many dB. That render's closeness is estimated by the earlier
# render's to its own source: where the two sources differ under the face more than that
# allows, the earlier face would sit on another picture, and the frame is computed.
MAX_LOSS_DB = 1.0
# A face's decision (replaced, or left turned away for a compositor: tasks.faces.engine) hangs
# on its track's history: keypoints smoothed from the track's start, the turn's hysteresis. A
# frame within WARM_FRAMES of where its track starts in one render and not the other (a trimmed
# head, another unit boundary) may be decided otherwise, so it is computed where the earlier
# render's faces there turned within TURN_BAND of engine.PROFILE_TURN. Sized on the one case
# measured (bench/versions.py: 0.68 in v1, 0.81 from v2's trimmed head, the same frames); the
# cameraman of tests/test_reuse.py (0.59-0.65) stays reused.
WARM_FRAMES = 24
TURN_BAND = 0.14
WAIT_POLL = 2.0  # seconds between looks for the records of units this one waits for
# <settings>/runs/<run>.json: every record of a finished run in one object (one GET).
INDEX = "runs"
# What the unit key holds that is the frames, not the settings.
_FRAME_INPUTS = ("asset_sha256", "source_sha256", "start", "end", "shots", "reuse")


class Piece(BaseModel):
    """The frames of one shot inside one unit: `start` counts from the unit's first frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shot: int
    start: int
    hashes: str


class Record(BaseModel):
    """What one swapped unit of one run leaves for later renders to reuse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: str
    unit: str
    source: OutputRecord
    output: OutputRecord
    faces: OutputRecord
    pieces: list[Piece]
    # Per-frame check data (tasks.reuse_copy); records without it are laid on, never copied.
    checks: OutputRecord | None = None


def settings_key(swap_inputs: Mapping[str, Any]) -> str:
    return cache_key("shots", {k: v for k, v in swap_inputs.items() if k not in _FRAME_INPUTS})


def index_prefix(layout: RunLayout, settings: str) -> str | None:
    cache = layout.cache
    return storage.join(cache, "shots", settings) if cache else None


def run_name(layout: RunLayout) -> str:
    return layout.prefix.rstrip("/").rsplit("/", 1)[-1]


def unit_pieces(shots: ShotList, unit: Unit) -> list[Piece]:
    """The unit's shot pieces with their fingerprints (none for a shot list without them)."""
    pieces = []
    for shot in shots.shots:
        lo, hi = max(shot.start_frame, unit.start_frame), min(shot.end_frame, unit.end_frame)
        if lo >= hi or shot.fingerprint is None:
            continue
        hashes = fingerprint.decode(shot.fingerprint)[lo - shot.start_frame : hi - shot.start_frame]
        pieces.append(
            Piece(shot=shot.index, start=lo - unit.start_frame, hashes=fingerprint.encode(hashes))
        )
    return pieces


_READ: dict[str, list[Record]] = {}  # records and indexes are written once: read once


def load_records(prefix: str | None) -> list[Record]:
    """Every readable record under `prefix` (one settings key): a finished run's from its
    index, the others' one by one; unreadable ones are skipped."""
    if prefix is None:
        return []
    uris = [u for u in storage.list_uris(prefix) if u.endswith(".json")]
    runs = storage.join(prefix, INDEX) + "/"
    found = [r for u in uris if u.startswith(runs) for r in _read(u, many=True)]
    seen = {(r.run, r.unit) for r in found}
    for uri in uris:
        run, _, unit = uri.rsplit("/", 1)[-1].removesuffix(".json").partition("--")
        if not uri.startswith(runs) and (run, unit) not in seen:
            found += _read(uri)
    return found


def _read(uri: str, many: bool = False) -> list[Record]:
    if uri not in _READ:
        try:
            data = storage.read_json(uri)
            _READ[uri] = [Record.model_validate(d) for d in (data if many else [data])]
        except (ValidationError, ValueError, OSError, TypeError) as exc:
            log.warning("ignoring unreadable reuse record %s: %s", uri, exc)
            return []
    return _READ[uri]


def seal(layout: RunLayout) -> list[str]:
    """After the run's last unit: its records gathered into one index per settings key, so a
    later render reads them with one GET. The records stay (a render listing them before the
    index appears reads those)."""
    cache = layout.cache
    if cache is None:
        return []
    run = run_name(layout)
    mine: dict[str, list[str]] = {}
    for uri in storage.list_uris(storage.join(cache, "shots")):
        folder, _, name = uri.rpartition("/")
        if name.startswith(f"{run}--") and name.endswith(".json"):
            mine.setdefault(folder, []).append(uri)
    written = []
    for folder, uris in mine.items():
        records = [r.model_dump(mode="json") for u in uris for r in _read(u)]
        written.append(storage.write_json(storage.join(folder, INDEX, f"{run}.json"), records))
    return written


def write_record(
    layout: RunLayout,
    settings: str,
    unit_id: str,
    pieces: list[Piece],
    swap: Mapping[str, OutputRecord] | None = None,
) -> str | None:
    """Record the unit's swap (and split) cache entries for later renders; None without them.
    `swap`: the swap's entry as just committed (else read back behind its done marker)."""
    prefix = index_prefix(layout, settings)
    if prefix is None or not pieces:
        return None
    swap = swap or _entry(layout, unit_id, "swap")
    split = _entry(layout, unit_id, "split")
    if swap is None or split is None:
        return None
    record = Record(
        run=run_name(layout),
        unit=unit_id,
        source=split["source.mkv"],
        output=swap["swapped.mkv"],
        faces=swap["faces.json"],
        pieces=pieces,
        checks=swap.get("checks.bin"),
    )
    return storage.write_json(
        storage.join(prefix, f"{record.run}--{unit_id}.json"), record.model_dump_json()
    )


def _entry(layout: RunLayout, unit_id: str, stage: str) -> dict[str, OutputRecord] | None:
    """The cache entry's files behind the run's done marker of `stage` for the unit."""
    marker = read_marker(layout.unit_marker(unit_id, stage))
    cache = layout.cache
    if marker is None or cache is None:
        return None
    shared = read_marker(storage.join(cache, "units", marker.key, "done.json"))
    return dict(shared.outputs) if shared is not None else None


@dataclass(frozen=True)
class Candidate:
    """New unit frame `frame` may be the earlier record's frame `frame + delta`."""

    record: int
    delta: int
    frames: tuple[int, ...]


def find(records: list[Record], new: list[Piece]) -> dict[int, tuple[int, int]]:
    """For each new unit frame with a candidate: (record index, earlier frame in that unit).
    Per new piece, the earlier piece and offset that most frames agree on (ties: the closest
    hashes) wins, then the next best for the frames still without one."""
    return _find([rec.pieces for rec in records], new)


def _find(units: list[list[Piece]], new: list[Piece]) -> dict[int, tuple[int, int]]:
    old = [(r, p, fingerprint.decode(p.hashes)) for r, pieces in enumerate(units) for p in pieces]
    chosen: dict[int, tuple[int, int]] = {}
    for piece in new:
        hashes = fingerprint.decode(piece.hashes)
        for _round in range(3):
            best = _best(hashes, piece.start, old, chosen)
            if best is None:
                break
            for frame in best.frames:
                chosen[frame] = (best.record, frame + best.delta)
    return chosen


def _best(
    hashes: np.ndarray,
    start: int,
    old: list[tuple[int, Piece, np.ndarray]],
    taken: Mapping[int, tuple[int, int]],
) -> Candidate | None:
    """The (record, offset) most still-free frames agree on; ties: the fewest differing bits."""
    free = np.array([start + i not in taken for i in range(len(hashes))])
    best: tuple[int, int, int, int] | None = None  # (votes, -bits, record, delta)
    for r, piece, known in old:
        near = fingerprint.distances(hashes, known)
        i, j = np.nonzero((near <= MAX_BITS) & free[:, None])
        if not len(i):
            continue
        # One offset pairs each new frame with one earlier frame: votes are distinct frames.
        deltas = piece.start + j - (start + i)
        values, index, votes = np.unique(deltas, return_inverse=True, return_counts=True)
        bits = np.bincount(index, weights=near[i, j])
        k = int(np.lexsort((bits, -votes))[0])
        score = (int(votes[k]), -int(bits[k]), r, int(values[k]))
        if best is None or score[:2] > best[:2]:
            best = score
    if best is None or best[0] < min(4, len(hashes)):
        return None  # a few stray frames are not a shot seen before
    votes, _, r, delta = best
    piece_frames = [
        start + i
        for i in range(len(hashes))
        if free[i] and _near(hashes[i], old, r, start + i + delta)
    ]
    return Candidate(r, delta, tuple(piece_frames))


def _near(value: np.uint64, old: list[tuple[int, Piece, np.ndarray]], r: int, frame: int) -> bool:
    """Whether record `r` holds `frame` (in its unit) with a hash within MAX_BITS of `value`."""
    for rec, piece, known in old:
        if rec == r and piece.start <= frame < piece.start + len(known):
            return int(np.bitwise_count(known[frame - piece.start] ^ value)) <= MAX_BITS
    return False


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma, rounded to 8 bits (its rounding is far below any floor used here)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def first_seen(shots: ShotList, units: list[Unit], unit: Unit) -> list[Unit]:
    """The run's earlier units holding material this unit repeats (a reprise, a flashback): on
    a cluster they run beside it, so it waits for them (await_records) and takes their frames
    rather than computing them twice. Only earlier units: no two units wait for each other."""
    earlier = [u for u in units if u.start_frame < unit.start_frame]
    pieces = [unit_pieces(shots, u) for u in earlier]
    used = {r for r, _ in _find(pieces, unit_pieces(shots, unit)).values()}
    return [earlier[r] for r in sorted(used)]


def await_records(layout: RunLayout, settings: str, units: list[Unit]) -> list[str]:
    """Wait, up to RECAST_REUSE_WAIT_S seconds (default 900), until each unit has left its
    record (or finished its swap and still left none a poll later: it had nothing to offer);
    the units still pending when time is up (their frames are then computed here)."""
    prefix = index_prefix(layout, settings)
    if prefix is None:
        return []
    run = run_name(layout)
    deadline = time.monotonic() + float(os.environ.get("RECAST_REUSE_WAIT_S", "900"))
    pending, done, told = [u.id for u in units], set[str](), list[str]()
    while True:
        # One listing of the settings' records a poll, not a HEAD per unit waited for.
        have = {uri.rsplit("/", 1)[-1] for uri in storage.list_uris(prefix)}
        pending = [u for u in pending if u not in done and f"{run}--{u}.json" not in have]
        if not pending or time.monotonic() > deadline:
            return pending
        done |= {u for u in pending if storage.exists(layout.unit_marker(u, "swap"))}
        if pending != told:
            log.info("reuse: waiting for units %s, which compute frames this one repeats", pending)
            told = pending
        time.sleep(WAIT_POLL)


def tile_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Y-PSNR of the worst TILE x TILE tile: a change in one place (a face) is not averaged
    away by an unchanged background."""
    if a.shape != b.shape:
        return 0.0
    diff = cv2.absdiff(luma(a), luma(b)).astype(np.float32)
    h, w = diff.shape
    th, tw = min(TILE, h), min(TILE, w)
    tiles = (diff[: h // th * th, : w // tw * tw] ** 2).reshape(h // th, th, w // tw, tw)
    worst = float(tiles.mean(axis=(1, 3)).max())
    return 99.0 if worst <= 1e-10 else float(10 * np.log10(255.0**2 / worst))


def changed(output: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Where a render's output differs from its source in any channel (the faces it wrote)."""
    summed = cv2.transform(cv2.absdiff(output, source), np.ones((1, 3), np.float32))
    return np.asarray(summed > 0)


def keeps_closeness(
    output: np.ndarray, earlier: np.ndarray, source: np.ndarray, mask: np.ndarray
) -> bool:
    """Whether `output`'s pixels under `mask`, laid on `source`, leave it as close to `source`
    (Y, the whole frame) as `output` was to `earlier`, its own source, within MAX_LOSS_DB.
    Outside the mask both frames are their own source, so the squared errors under it decide."""
    y = luma(output)[mask].astype(np.float32)
    old = float(((y - luma(earlier)[mask]) ** 2).sum())
    new = float(((y - luma(source)[mask]) ** 2).sum())
    return new <= max(old, float(mask.sum())) * 10 ** (MAX_LOSS_DB / 10)


class Cursor:
    """Frames of a mezzanine by index: decoded forward, converted only when asked for; a step
    back or a long step forward seeks (frames are told by their timestamps)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        base = self.stream.time_base
        self.per_pts = float(rate * base) if rate and base else None
        self._frames: Iterator[av.VideoFrame] = self.container.decode(self.stream)
        self._first: int | None = None
        self._next = 0  # index of the frame the decoder gives next
        self._last: tuple[int, np.ndarray] | None = None

    def _index(self, frame: av.VideoFrame) -> int:
        if self._first is None:
            self._first = frame.pts or 0
        if frame.pts is None or self.per_pts is None:
            return self._next
        return round((frame.pts - self._first) * self.per_pts)

    def _seek(self, index: int) -> None:
        if self._first is None or self.per_pts is None:  # untimed: from the start
            self.container.seek(0, stream=self.stream)
            self._next = 0
        else:
            self.container.seek(
                self._first + int(index / self.per_pts), stream=self.stream, backward=True
            )
            self._next = -1  # known from the next frame's timestamp
        self._frames = self.container.decode(self.stream)

    def close(self) -> None:
        self.container.close()

    def get(self, index: int) -> np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if index < self._next or index > self._next + 48 or self._next < 0:
            self._seek(index)
        for frame in self._frames:
            at = self._index(frame) if self._next < 0 or frame.pts is not None else self._next
            self._next = at + 1
            if at == index:
                self._last = (index, to_rgb(frame))
                return self._last[1]
            if at > index:
                break
        raise IndexError(f"{self.path} has no frame {index}")


@dataclass
class Fetched:
    """An earlier unit's files, downloaded and checked against their recorded sha256.
    `final`: its frames are finished (restored) ones, which the restore stage leaves alone."""

    run: str
    source: Cursor | None
    output: Cursor | None
    faces: dict[str, Any]
    final: bool = False
    # Fetched on first use (a unit with check data seldom needs them): None once it failed.
    source_record: OutputRecord | None = None
    output_record: OutputRecord | None = None
    checks: Path | None = None  # tasks.reuse_copy's check data, sha256-checked
    checks_read: Any = None

    def source_cursor(self) -> Cursor | None:
        if self.source is None and self.source_record is not None:
            rec, self.source_record = self.source_record, None
            self.source = _cursor(rec, self.run)
        return self.source

    def output_cursor(self) -> Cursor | None:
        if self.output is None and self.output_record is not None:
            rec, self.output_record = self.output_record, None
            self.output = _cursor(rec, self.run)
        return self.output

    def close(self) -> None:
        for cursor in (self.source, self.output):
            if cursor is not None:
                cursor.close()


def _cursor(rec: OutputRecord, run: str) -> Cursor | None:
    try:
        return Cursor(local_file(rec))
    except Exception as exc:  # an unreadable entry is simply not reused
        log.warning("reuse: %s of %s unreadable (%s): computing", rec.uri, run, exc)
        return None


@dataclass
class ReusePlan:
    """The unit's frames that earlier renders may hold: frame -> (fetched entry, its frame).
    Each is checked as the swap reaches it (`take`); a frame that fails is computed."""

    frames: dict[int, tuple[int, int]] = field(default_factory=dict)
    fetched: list[Fetched] = field(default_factory=list)
    min_psnr: float = 99.0
    # Frames already checked (tasks.reuse_copy) where the earlier swap wrote no face: their
    # own source is their output.
    plain: set[int] = field(default_factory=set)
    turning: int = 0  # candidates left to compute: a face's turn may be decided otherwise

    def close(self) -> None:
        for got in self.fetched:
            got.close()

    def source_of(self, frame: int) -> str | None:
        hit = self.frames.get(frame)
        return self.fetched[hit[0]].run if hit else None

    def final(self, frame: int) -> bool:
        return self.fetched[self.frames[frame][0]].final

    def take(
        self, frame: int, source: np.ndarray
    ) -> tuple[np.ndarray, list[dict[str, Any]]] | None:
        """The earlier frame and the faces it logged, if its source matches `source` (this
        unit's own frame); None when it does not. The earlier render's changes (where its
        output differs from its source: the faces) are laid on this unit's own frame, so the
        rest of the picture is this version's, not the earlier encode's."""
        r, old = self.frames[frame]
        got = self.fetched[r]
        logged = list(got.faces.get("frames", {}).get(str(old), []))
        if frame in self.plain:
            return source, logged
        try:
            cursor, made = got.source_cursor(), got.output_cursor()
            if made is not None and got.final:
                return made.get(old), logged
            if cursor is None or made is None:
                return None
            earlier = cursor.get(old)
            if tile_psnr(source, earlier) < self.min_psnr:
                return None
            if not logged:  # the earlier swap wrote no face here: its output is its source
                return source, logged
            output = made.get(old)
        except IndexError:
            return None
        mask = changed(output, earlier)
        if not mask.any():
            return source, logged
        if not keeps_closeness(output, earlier, source, mask):
            return None
        out = source.copy()
        np.copyto(out, output, where=mask[..., None])
        return out, logged


_KEPT: dict[str, tuple[Path, tuple[Any, ...]]] = {}  # uri -> a checked local file, for what
_STORE: list[Path] = []


def local_file(rec: OutputRecord) -> Path:
    """A cache entry's file, checked against its sha256: read in place from a local work area
    (the laptop's), else downloaded into this process's store. Checked once per process while
    the file stays as it was (a local file's size and mtime; a download is this process's
    own, checked copy: no HEAD), so units reusing one earlier unit share the check and the
    download. ValueError when it fails its sha256."""
    local = not storage.is_s3(rec.uri)
    if local and not Path(rec.uri).is_file():
        raise ValueError(f"{rec.uri} is gone")
    now = Path(rec.uri).stat() if local else None
    seen = (rec.sha256, (now.st_size, now.st_mtime_ns) if now else None)
    kept = _KEPT.get(rec.uri)
    if kept is not None and kept[1] == seen and kept[0].is_file():
        return kept[0]
    path = Path(rec.uri) if local else storage.download(rec.uri, _store() / rec.sha256)
    if storage.sha256_file(path) != rec.sha256:
        if not local:
            path.unlink(missing_ok=True)
        raise ValueError(f"{rec.uri} fails its sha256 (corrupted or half written)")
    _KEPT[rec.uri] = (path, seen)
    return path


def _store() -> Path:
    """This process's downloads, removed at exit; past RECAST_REUSE_KEEP_MB (default 2048)
    the oldest go first."""
    if not _STORE:
        _STORE.append(Path(tempfile.mkdtemp(prefix="recast-reuse-")))
        atexit.register(shutil.rmtree, _STORE[0], True)
    # Another thread's download in progress (`.part`) is neither counted nor removed, and a
    # file removed meanwhile is passed over (two renders in one process share the store).
    files = sorted((s.st_mtime, s.st_size, p) for p in _STORE[0].iterdir() if (s := _stat(p)))
    room = int(os.environ.get("RECAST_REUSE_KEEP_MB", "2048")) * 2**20
    total = sum(size for _, size, _ in files)
    while files and total > room:
        _, size, oldest = files.pop(0)
        oldest.unlink(missing_ok=True)
        total -= size
    return _STORE[0]


def _stat(path: Path) -> os.stat_result | None:
    if path.name.endswith(".part"):
        return None
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def fetch(record: Record) -> Fetched | None:
    """The record's files, checked; None (logged) when one is missing or fails its sha256.
    The earlier source and output are fetched when a frame first needs them."""
    paths = {}
    for name, rec in [("faces", record.faces)] + (
        [("checks", record.checks)] if record.checks else []
    ):
        try:
            paths[name] = local_file(rec)
        except Exception as exc:  # any unreadable entry is simply not reused
            log.warning(
                "reuse: %s of %s/%s unreadable (%s): computing", name, record.run, record.unit, exc
            )
            return None
    return Fetched(
        record.run,
        None,
        None,
        json.loads(paths["faces"].read_text()),
        source_record=record.source,
        output_record=record.output,
        checks=paths.get("checks"),
    )


def plan_unit(records: list[Record], new: list[Piece], min_psnr: float) -> ReusePlan:
    """Candidates for the unit's frames from earlier renders, their files fetched and checked
    (sha256); the source frames are compared as the swap reads them (ReusePlan.take)."""
    candidates = find(records, new)
    plan = ReusePlan(min_psnr=min_psnr)
    slots: dict[int, int | None] = {}
    warm = _history(new)
    earlier = {r: _history(record.pieces) for r, record in enumerate(records)}
    for frame, (r, old) in sorted(candidates.items()):
        if r not in slots:
            got = fetch(records[r])
            slots[r] = None if got is None else len(plan.fetched)
            if got is not None:
                plan.fetched.append(got)
        slot = slots[r]
        if slot is None:
            continue
        if warm(frame) != earlier[r](old) and near_turn(plan.fetched[slot].faces, old):
            plan.turning += 1  # this render may decide the face otherwise: computed
            continue
        plan.frames[frame] = (slot, old)
    if plan.turning:
        log.info("reuse: %d frames computed where a face's turn may be decided otherwise",
                 plan.turning)  # fmt: skip
    log.info(
        "reuse: %d candidate frames from %d earlier units", len(plan.frames), len(plan.fetched)
    )
    return plan


def _history(pieces: list[Piece]) -> Callable[[int], int]:
    """Frame of the unit -> frames of its track's history the engine has seen there (from its
    piece's start: a shot's tracks start afresh in each unit), up to WARM_FRAMES."""
    starts = sorted(p.start for p in pieces)

    def seen(frame: int) -> int:
        at = bisect.bisect_right(starts, frame)
        return min(frame - (starts[at - 1] if at else 0), WARM_FRAMES)

    return seen


def near_turn(faces: Mapping[str, Any], frame: int) -> bool:
    """Whether a face the earlier render logged on `frame` (replaced or left for a compositor)
    turned within TURN_BAND of the threshold that decides between the two."""
    from tasks.faces import pose
    from tasks.faces.engine import PROFILE_TURN

    turns = [abs(pose.turn(np.asarray(f["kps"], np.float32).reshape(5, 2)))
             for f in faces.get("frames", {}).get(str(frame), [])]  # fmt: skip
    turns += [float(f["turn"]) for f in faces.get("needs_compositor", {}).get(str(frame), [])]
    return any(abs(t - PROFILE_TURN) <= TURN_BAND for t in turns)


def summary(swaps: list[dict[str, Any]]) -> dict[str, Any]:
    """What a render reused, from its swap results: for report.json, QC and provenance."""
    shots: dict[int, dict[str, Any]] = {}
    for result in swaps:
        for s in result.get("per_shot", []):
            row = shots.setdefault(
                s["shot"], {"shot": s["shot"], "frames": 0, "frames_reused": 0, "reused_from": None}
            )
            row["frames"] += s.get("frames", 0)
            row["frames_reused"] += s.get("frames_reused", 0)
            row["reused_from"] = row["reused_from"] or s.get("reused_from")
    reused = [r for r in shots.values() if r["frames_reused"]]
    return {
        "shots": len(shots),
        "shots_reused": len(reused),
        "frames": sum(r["frames"] for r in shots.values()),
        "frames_reused": sum(r["frames_reused"] for r in reused),
        "from": sorted({r["reused_from"] for r in reused if r["reused_from"]}),
        "per_shot": [r for _, r in sorted(shots.items())],
    }


def headline(reuse: dict[str, Any]) -> str:
    """`reused N of M shots (from run ...)`: what the CLI prints."""
    runs = ", ".join(reuse["from"]) or "none"
    return (
        f"reused {reuse['shots_reused']} of {reuse['shots']} shots "
        f"({reuse['frames_reused']} of {reuse['frames']} frames; from run {runs})"
    )
