"""Shot boundaries from the candidates: hard cuts, dissolves and fades, each at one frame.

Hard cuts come from PySceneDetect's AdaptiveDetector (a frame that changes far more than its
neighbours, so fast camera moves do not count) and are kept only when the picture does not come
back within a few frames (a flash or a strobe does). Fades come from PySceneDetect's
ThresholdDetector (through black; the boundary is the middle of the dark frames). Dissolves are
the peaks of `chord - 2 * bend` (see signals.py): the middle of a dissolve, where both shots
weigh the same; a long window on coarse thumbnails finds long ones between moving shots, and
wipes. A dissolve candidate next to a cut or inside a fade is part of that one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.shots.signals import LONG_WINDOW, Signals
from tasks.spec import Transition

# A cut whose previous frame comes back (within FLASH_FRAMES) this close, relative to the jump,
# was a flash.
FLASH_RETURN = 0.5
# Dissolve peaks: chord - 2 * bend at least this (0..255 scale), bend at most this share of
# the chord.
DISSOLVE_SCORE = 15.0
DISSOLVE_BEND = 0.4
# Long dissolves (signals.py's long window): the score's peak at least this, the middle frame
# off the straight line between the ends by at most this share of the chord (a clean mix: the
# coarse picture of a pan, a zoom or a cut bends far more).
LONG_SCORE = 20.0
LONG_BEND = 0.1
# and its middle frame's variance at most this share of the mean of the ends' (a mix of two
# unrelated pictures: a half; the tuning films' dissolves: 0.32-0.65; a steady pan: 1).
LONG_DIP = 0.8
# A cut's frame change stands this far above the mean of the changes just before and after it;
# inside a dissolve (where HSV scores can jump as colour fades in over grey) changes are smooth.
CUT_SPIKE = 2.0
# Wipes: a middle frame whose pixels are each this near (share of the chord) to one end, with
# the changing pixels split between the ends within these shares, over a chord of at least this.
WIPE_SPLIT = 0.12
WIPE_SHARE = (0.3, 0.7)
WIPE_CHORD = 20.0
WIPE_RUN = 3  # frames in a row (a shaken textured shot can look made of both for a frame)
# Frames this close to the darkest of a fade (0..255) count as its black.
DARK_SPREAD = 2.0
# A fade's ramp darkens by more than this a frame (0..255): a dark shot drifts by less, and
# its B-frames drawn between decoded frames (segments.py) drift smoothly, without noise.
RAMP_STEP = 0.1


@dataclass(frozen=True)
class Boundary:
    frame: int  # first frame of the new shot
    kind: Transition
    length: int  # frames of the transition (0 for a cut)


def hard_cuts(candidates: Sequence[int], signals: Signals) -> list[Boundary]:
    """The candidates after which the picture stays changed."""
    kept = []
    for frame in candidates:
        if 0 < frame < len(signals.jump) and _settles(frame, signals) and _spikes(frame, signals):
            kept.append(Boundary(frame, "cut", 0))
    return kept


def _settles(frame: int, signals: Signals) -> bool:
    return signals.settle.get(frame, 255.0) >= FLASH_RETURN * signals.jump[frame]


def _spikes(frame: int, signals: Signals) -> bool:
    around = signals.jump[max(frame - 1, 0) : frame] + signals.jump[frame + 1 : frame + 2]
    return signals.jump[frame] >= CUT_SPIKE * sum(around) / max(len(around), 1)


def fades(candidates: Sequence[int], signals: Signals) -> list[Boundary]:
    """Each fade at the middle of its darkest frames, with the length of the dip around it."""
    found = []
    luma, limit = signals.luma, 2 * signals.window
    for frame in candidates:
        if not 0 < frame < len(luma):
            continue
        low, high = max(frame - limit, 0), min(frame + limit, len(luma) - 1)
        darkest = min(range(low, high + 1), key=lambda i: luma[i])
        first, last = darkest, darkest
        while first > low and luma[first - 1] <= luma[darkest] + DARK_SPREAD:
            first -= 1
        while last < high and luma[last + 1] <= luma[darkest] + DARK_SPREAD:
            last += 1
        left, right = first, last  # the ramps down and up around the black
        while left > 0 and luma[left - 1] > luma[left] + RAMP_STEP:
            left -= 1
        while right + 1 < len(luma) and luma[right + 1] > luma[right] + RAMP_STEP:
            right += 1
        if first - left <= 1 and right - last <= 1:
            continue  # a step down and a step up: a dark shot between two cuts, not a fade
        found.append(Boundary((first + last + 1) // 2, "fade", right - left))
    return found


def outside(cuts: Sequence[Boundary], fades: Sequence[Boundary]) -> list[Boundary]:
    """The cuts that are not inside a fade (its dark frames can look like one)."""
    return [c for c in cuts if not any(abs(c.frame - f.frame) <= f.length // 2 + 1 for f in fades)]


def dissolves(signals: Signals, taken: Sequence[Boundary]) -> list[Boundary]:
    """Peaks of the dissolve score, away from the cuts and fades already found: the long
    window's first (`long_dissolves`), then the short windows' (the middle of their plateau
    at half height), each with a variance dip at its middle (`_dips`)."""
    w = signals.window
    found = long_dissolves(signals, taken)
    score = signals.dissolve_score(DISSOLVE_BEND)
    for m in range(w, len(score) - w):
        if score[m] < DISSOLVE_SCORE or score[m] < max(score[m - w : m + w + 1]):
            continue
        if any(abs(m - t.frame) <= w + t.length // 2 for t in [*taken, *found]):
            continue
        left, right = _half_height(score, m)
        # A long dissolve's score is a plateau (every window inside it is a clean mix): its
        # middle, not wherever the peak fell on it.
        middle = (left + right + 1) // 2
        if _dips(signals, middle):
            found.append(Boundary(middle, "dissolve", 2 * (right - left + 1)))
    return found


def long_dissolves(signals: Signals, taken: Sequence[Boundary]) -> list[Boundary]:
    """Peaks of the long window's score: a dissolve's middle (the middle of the score's
    triangle at half height), its length twice that width."""
    w = LONG_WINDOW
    score = signals.long_score()
    found: list[Boundary] = []
    for m in range(w, len(score) - w):
        if score[m] < LONG_SCORE or score[m] < max(score[m - w : m + w + 1]):
            continue
        if signals.long_bend[m] > LONG_BEND * signals.long_chord[m]:
            continue
        if any(abs(m - t.frame) <= signals.window + t.length // 2 for t in [*taken, *found]):
            continue
        left, right = _half_height(score, m)
        middle = _even_mix(signals.long_mix, left, right)
        if not _dips(signals, middle):
            continue  # no mix of two pictures: a steady move
        found.append(Boundary(middle, "dissolve", 2 * (right - left + 1)))
    return found


def _dips(signals: Signals, middle: int) -> bool:
    """Whether frame `middle` varies less than the frames LONG_WINDOW before and after it, as
    a mix of two pictures does (and a steady move over a smooth picture does not)."""
    variance, w = signals.variance, LONG_WINDOW
    ends = variance[max(middle - w, 0)] + variance[min(middle + w, len(variance) - 1)]
    return variance[middle] <= LONG_DIP * ends / 2


def _even_mix(mix: list[float], left: int, right: int) -> int:
    """The frame where a dissolve's two shots weigh the same: where the straight line fitted to
    the new shot's weight over [left, right] (the score's triangle at half height) crosses
    one half. Every frame of the triangle has its say, so a moving camera's noise on the
    score's flat top does not move the middle; the triangle's middle if no line rises."""
    frames = np.arange(left, right + 1)
    slope, offset = np.polyfit(frames, np.asarray(mix[left : right + 1]), 1)
    if slope <= 0:
        return (left + right + 1) // 2
    return int(np.clip(np.floor((0.5 - offset) / slope + 0.5), left, right))


def wipes(signals: Signals, taken: Sequence[Boundary]) -> list[Boundary]:
    """Middles of wipes: runs of frames made of the frame W before and the frame W after, part
    one and part the other (a dissolve mixes them, a cut takes one), away from what is already
    found; the long window's first (coarse thumbnails, whose ends are whole shots and which a
    moving camera hardly disturbs), then the short window's (wipes shorter than WIPE_RUN / 0.4
    frames). The changing pixels nearer the new shot go from WIPE_SHARE's low to its high
    share (0.3 to 0.7) in 0.4 of the wipe, so the run's middle is the wipe's and the wipe is
    2.5 runs long. A long run's middle is when the wipe's edge crosses the frame's centre
    (Signals.wipe_middle)."""
    found: list[Boundary] = []
    for split, share, chord, w in (
        (signals.long_split, signals.long_share, signals.long_chord, LONG_WINDOW),
        (signals.split, signals.share, signals.chord[0], signals.window),
    ):
        for first, last in _wipe_runs(split, share, chord, w):
            centre = signals.wipe_middle(first, last) if w == LONG_WINDOW else None
            middle = (first + last + 1) // 2 if centre is None else math.floor(centre + 0.5)
            if any(
                abs(middle - t.frame) <= signals.window + t.length // 2 for t in (*taken, *found)
            ):
                continue
            found.append(Boundary(middle, "wipe", round((last - first + 1) / 0.4)))
    return found


def _wipe_runs(
    split: list[float], share: list[float], chord: list[float], w: int
) -> list[tuple[int, int]]:
    """First and last frames of the runs of at least WIPE_RUN frames whose middles are made
    of both ends of the window, half and half."""
    low, high = WIPE_SHARE
    runs: list[list[int]] = []
    for m in range(w, len(split) - w):
        if split[m] <= WIPE_SPLIT and low <= share[m] <= high and chord[m] >= WIPE_CHORD:
            if runs and runs[-1][-1] == m - 1:
                runs[-1].append(m)
            else:
                runs.append([m])
    return [(run[0], run[-1]) for run in runs if len(run) >= WIPE_RUN]


def _half_height(score: list[float], peak: int) -> tuple[int, int]:
    """First and last frames around `peak` scoring at least half of it. A dissolve's score is
    a triangle (or a plateau) as wide as the dissolve is long, at half height."""
    half = score[peak] / 2
    left, right = peak, peak
    while left > 0 and score[left - 1] >= half:
        left -= 1
    while right + 1 < len(score) and score[right + 1] >= half:
        right += 1
    return left, right


def merge(found: Sequence[Boundary], frame_count: int, min_shot: int) -> list[Boundary]:
    """Boundaries in order, none leaving a shot shorter than `min_shot` frames."""
    kept: list[Boundary] = []
    last = 0
    for boundary in sorted(found, key=lambda b: b.frame):
        if boundary.frame - last >= min_shot and frame_count - boundary.frame >= 1:
            kept.append(boundary)
            last = boundary.frame
    if kept and frame_count - kept[-1].frame < min_shot:
        kept.pop()
    return kept
