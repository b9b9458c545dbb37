"""Per-frame measures for transitions, computed in one streaming pass over thumbnails.

Frames arrive a block at a time as THUMB_SIZE thumbnails (detect.py decodes at that size) and
every measure is computed for the whole block at once with numpy; a short history of earlier
thumbnails spans block edges. Per frame i (distances are mean absolute differences on 0..255):
- `jump[i]`: distance from frame i-1 to frame i (what a hard cut makes large);
- `settle[c]`, for each candidate cut c given to `watch`: the smallest distance between a frame
  among the FLASH_FRAMES before c and one among c..c+FLASH_FRAMES. After a real cut the picture
  never comes back; after a flash (or around one) it does, so a small settle marks a flash;
- `chord[k][i]` and `bend[k][i]`: for frames a = i-W and b = i+W, |b - a| and |i - (a + b) / 2|,
  for W = `window` (k=0) and `window + 2` (k=1; a flash at one end spoils only one of them).
  Inside a dissolve every frame is a linear mix of the two shots, so the middle frame is the
  mean of the ends: a long chord with no bend. A pan or zoom bends (its middle is not the mean
  of its ends), a hard cut bends by half the chord, a flash by more.
- `long_chord[i]` and `long_bend[i]`: the same for W = LONG_WINDOW, on COARSE thumbnails. A
  dissolve of up to 2 x LONG_WINDOW frames then has its ends outside the window, so its score
  `chord - 2 * bend` is a triangle peaking at its middle (one shot's weight equals the other's
  there), wherever the camera moves: the coarse picture is nearly linear under a slow move
  over the window, and the ends are whole shots. Shorter windows only see a plateau inside a
  long dissolve, whose middle a moving camera shifts by several frames.
- `variance[i]`: the variance of frame i's thumbnail. A mix of two pictures varies less than
  either (a quarter of each's variance, if they are unrelated): a dissolve's middle dips, a
  steady pan over a smooth picture (nearly linear at the coarse scale too) does not.
- `luma[i]`: mean brightness, for fades through black.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from tasks.shots.fingerprint import frame_hashes

THUMB_SIZE = (48, 27)  # width, height
COARSE_SIZE = (12, 7)  # width, height: long-window linearity (a pixel of it is 4x4 of a thumbnail)
LONG_WINDOW = 24
FLASH_FRAMES = 4
WIPE_CHANGE = 24.0  # a pixel (0..255) changing this much between a and b counts for `share`


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each pair of thumbnails along the first axis."""
    difference = np.subtract(a, b)
    np.abs(difference, out=difference)
    return _means(difference)


def _means(frames: np.ndarray) -> np.ndarray:
    """Mean of each frame. Flattened first: numpy reduces one long axis several times faster
    than three short ones."""
    means: np.ndarray = frames.reshape(len(frames), -1).mean(axis=1)
    return means


@dataclass
class Signals:
    window: int
    jump: list[float] = field(default_factory=list)
    settle: dict[int, float] = field(default_factory=dict)
    chord: list[list[float]] = field(default_factory=lambda: [[], []])
    bend: list[list[float]] = field(default_factory=lambda: [[], []])
    luma: list[float] = field(default_factory=list)
    variance: list[float] = field(default_factory=list)
    # Each block's frame fingerprints (tasks.shots.fingerprint), for reuse across versions.
    hashes: list[np.ndarray] = field(default_factory=list)
    # Wipes, for a = i-W, b = i+W (W = `window`): `split[i]`, each pixel's distance to the nearer
    # of a and b over the mean |b - a| (a wipe's middle is made of both: near 0; a dissolve's
    # 0.5), and `share[i]`, the share of the changing pixels nearer b (a wipe's middle: half;
    # a cut: none or all).
    split: list[float] = field(default_factory=list)
    share: list[float] = field(default_factory=list)
    long_chord: list[float] = field(default_factory=list)
    long_bend: list[float] = field(default_factory=list)
    # Where frame i lies between a = i - W and b = i + W (long window, coarse): the projection
    # of i - a on b - a, 0 at a and 1 at b (inside a dissolve: the new shot's weight).
    long_mix: list[float] = field(default_factory=list)
    # `split` and `share` for the long window, on coarse thumbnails (wipes).
    long_split: list[float] = field(default_factory=list)
    long_share: list[float] = field(default_factory=list)
    # Per frame, the coarse pixels of the long window's middle that change (bit set in the
    # first COARSE_PIXELS bits) and those nearer its end (in the next ones), packed (numpy's
    # packbits): where a wipe's edge is, frame by frame.
    long_pixels: list[bytes] = field(default_factory=list)
    # Every thumbnail (BGR uint8 blocks), kept for the learned detector when asked.
    keep_thumbs: bool = False
    thumbs: list[np.ndarray] = field(default_factory=list)
    # The newest thumbnails (float32), `_first` the index of the first one kept.
    _history: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0, 3), np.float32))
    _first: int = 0
    _coarse: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0, 3), np.float32))
    _watched: list[int] = field(default_factory=list)
    # Frames whose change stands out of their neighbours' (detect.py's `_spike`) but which no
    # classical detector took: where the fused detector asks the learned model.
    spikes: list[int] = field(default_factory=list)

    @property
    def windows(self) -> tuple[int, int]:
        return (self.window, self.window + 2)

    @property
    def frames(self) -> int:
        return len(self.luma)

    def add_block(self, bgr: np.ndarray) -> None:
        """Take the next frames: (n, height, width, 3) uint8 thumbnails."""
        if not len(bgr):
            return
        start = self.frames
        if self.keep_thumbs:
            self.thumbs.append(bgr)
        thumbs = bgr.astype(np.float32)
        every = np.concatenate([self._history, thumbs]) if len(self._history) else thumbs
        offset = start - self._first  # position of the block's first frame in `every`
        self.luma += _means(thumbs).tolist()
        self.variance += _flat(thumbs).var(axis=1).tolist()
        self.hashes.append(frame_hashes(bgr))
        if offset:
            self.jump += _distances(every[offset:], every[offset - 1 : -1]).tolist()
        else:  # the film's first frame changes from nothing
            self.jump += [0.0, *_distances(every[1:], every[:-1]).tolist()]
        self._wipe_measures(every, start, len(thumbs))
        for k, w in enumerate(self.windows):
            # Middles m = i - w for the block's frames i with i - 2w >= 0.
            self.chord[k] += [0.0] * len(thumbs)
            self.bend[k] += [0.0] * len(thumbs)
            lo, hi = max(start, 2 * w) - self._first, self.frames - self._first
            if lo >= hi:
                continue
            # Contiguous frames: slices are views, where an index array would copy each.
            a, m, b = every[lo - 2 * w : hi - 2 * w], every[lo - w : hi - w], every[lo:hi]
            middle = np.add(a, b)
            middle *= 0.5
            first_middle = lo + self._first - w
            chord, bend = _distances(a, b), _distances(m, middle)
            self.chord[k][first_middle : first_middle + hi - lo] = chord.tolist()
            self.bend[k][first_middle : first_middle + hi - lo] = bend.tolist()
        # Enough for the dissolve windows, and for cuts found anywhere in this block.
        self._long_measures(bgr, start)
        keep = len(thumbs) + max(2 * self.windows[1], 2 * FLASH_FRAMES + 1) + 1
        self._history = every[-keep:]
        self._first = self.frames - len(self._history)
        self._settle_due()

    def _wipe_measures(self, every: np.ndarray, start: int, count: int) -> None:
        w = self.window
        self.split += [1.0] * count
        self.share += [0.0] * count
        lo, hi = max(start, 2 * w) - self._first, self.frames - self._first
        if lo >= hi:
            return
        a, m, b = every[lo - 2 * w : hi - 2 * w], every[lo - w : hi - w], every[lo:hi]
        nearer, share = _wipe_split(a, m, b)
        first = lo + self._first - w
        self.split[first : first + hi - lo] = nearer.tolist()
        self.share[first : first + hi - lo] = share.tolist()

    def _long_measures(self, bgr: np.ndarray, start: int) -> None:
        coarse = np.stack([cv2.resize(t, COARSE_SIZE, interpolation=cv2.INTER_AREA) for t in bgr])
        coarse = coarse.astype(np.float32)
        every = np.concatenate([self._coarse, coarse]) if len(self._coarse) else coarse
        first = self.frames - len(every)  # index of every[0]
        w = LONG_WINDOW
        self.long_chord += [0.0] * len(coarse)
        self.long_bend += [0.0] * len(coarse)
        self.long_mix += [0.0] * len(coarse)
        self.long_split += [1.0] * len(coarse)
        self.long_share += [0.0] * len(coarse)
        self.long_pixels += [b""] * len(coarse)
        lo, hi = max(start, 2 * w) - first, self.frames - first
        if lo < hi:
            a, m, b = every[lo - 2 * w : hi - 2 * w], every[lo - w : hi - w], every[lo:hi]
            middle = lo + first - w
            self.long_chord[middle : middle + hi - lo] = _distances(a, b).tolist()
            self.long_bend[middle : middle + hi - lo] = _distances(m, (a + b) * 0.5).tolist()
            chord, moved = _flat(b - a), _flat(m - a)
            mix = (chord * moved).sum(axis=1) / np.maximum((chord * chord).sum(axis=1), 1.0)
            self.long_mix[middle : middle + hi - lo] = mix.tolist()
            split, share = _wipe_split(a, m, b)
            self.long_split[middle : middle + hi - lo] = split.tolist()
            self.long_share[middle : middle + hi - lo] = share.tolist()
            to_a, to_b = np.abs(m - a).mean(axis=3), np.abs(m - b).mean(axis=3)
            changing = np.abs(b - a).mean(axis=3) > WIPE_CHANGE
            bits = np.packbits(
                np.concatenate([_flat(changing), _flat(to_b < to_a)], axis=1), axis=1
            )
            self.long_pixels[middle : middle + hi - lo] = [row.tobytes() for row in bits]
        self._coarse = every[-2 * w :]

    def wipe_middle(self, first: int, last: int) -> float | None:
        """When the edge of the wipe whose middles run from `first` to `last` crosses the
        frame's centre (None if too few pixels change). Each coarse pixel changing at the
        middle of the run turns to the new shot at one frame (counted over the run and
        LONG_WINDOW / 3 frames each side); a wipe's edge sweeps the frame at a steady pace
        in one direction, so those frames lie on a plane over the picture, whatever the
        picture (a run's own middle leans towards wherever the changing pixels crowd)."""
        pixels = COARSE_SIZE[0] * COARSE_SIZE[1]
        lo, hi = max(first - LONG_WINDOW // 3, 0), min(last + LONG_WINDOW // 3, self.frames - 1)
        rows = [np.unpackbits(np.frombuffer(self.long_pixels[i], np.uint8))[: 2 * pixels]
                for i in range(lo, hi + 1) if self.long_pixels[i]]  # fmt: skip
        if len(rows) != hi - lo + 1:
            return None
        bits = np.stack(rows).astype(bool)
        changing = bits[(first + last) // 2 - lo, :pixels]
        if changing.sum() < 3:
            return None
        turned = lo + (~bits[:, pixels:]).sum(axis=0)[changing]  # frames before it turned
        y, x = np.divmod(np.flatnonzero(changing), COARSE_SIZE[0])
        plane = np.stack([np.ones(len(x)), x, y], axis=1)
        (offset, along_x, along_y), *_ = np.linalg.lstsq(plane, turned.astype(float), rcond=None)
        centre_x, centre_y = (COARSE_SIZE[0] - 1) / 2, (COARSE_SIZE[1] - 1) / 2
        return float(offset + along_x * centre_x + along_y * centre_y)

    def long_score(self) -> list[float]:
        """Per frame, the long window's chord - 2 * bend."""
        return (np.array(self.long_chord) - 2 * np.array(self.long_bend)).tolist()  # type: ignore[no-any-return]

    def watch(self, cut: int) -> None:
        """Measure how far the picture settles after candidate cut `cut` (a frame added)."""
        self._watched.append(cut)
        self._settle_due()

    def _settle_due(self, *, final: bool = False) -> None:
        newest = self.frames - 1
        for cut in [c for c in self._watched if final or c + FLASH_FRAMES <= newest]:
            self._watched.remove(cut)
            lo = max(cut - FLASH_FRAMES, self._first)
            hi = min(cut + FLASH_FRAMES, newest)
            before = self._history[lo - self._first : cut - self._first]
            after = self._history[max(cut, self._first) - self._first : hi + 1 - self._first]
            if not len(before) or not len(after):
                self.settle[cut] = 255.0
                continue
            pairs = np.abs(_flat(before)[:, None] - _flat(after)[None, :]).mean(axis=2)
            self.settle[cut] = float(pairs.min())

    def dissolve_score(self, max_bend: float) -> list[float]:
        """Per frame, min over windows of chord - 2 * bend; 0 where any window bends more
        than `max_bend` of its chord (a linear mix does not bend)."""
        chord, bend = np.array(self.chord), np.array(self.bend)
        straight = (bend <= max_bend * chord).all(axis=0)
        scores = np.where(straight, (chord - 2 * bend).min(axis=0), 0.0)
        return [float(s) for s in scores]

    def finish(self) -> None:
        """Settle the cuts near the end with the frames there are."""
        self._settle_due(final=True)


def _wipe_split(a: np.ndarray, m: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`split` and `share` (see Signals) of middles `m` between `a` and `b`, per frame."""
    a, m, b = _flat(a), _flat(m), _flat(b)
    to_a, to_b, chord = np.subtract(m, a), np.subtract(m, b), np.subtract(b, a)
    for difference in (to_a, to_b, chord):  # in place: these are the pass's largest arrays
        np.abs(difference, out=difference)
    changing = chord > WIPE_CHANGE
    towards_b = np.less(to_b, to_a)
    towards_b &= changing
    nearer = np.minimum(to_a, to_b, out=to_a).mean(axis=1) / np.maximum(chord.mean(axis=1), 1.0)
    share = np.count_nonzero(towards_b, axis=1) / np.maximum(np.count_nonzero(changing, axis=1), 1)
    return nearer, share


def _flat(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), int(np.prod(frames.shape[1:])))
