"""Frame rates: the exact rational of a constant-rate stream, and variable-rate detection.

The rate is the header's (`r_frame_rate`) whenever each presented frame follows the one before
within half a frame of the nominal step: jitter, the quarter-frame gaps that joining files with
`-c copy` leaves, and edit lists are not variable rate, and every decoded frame is kept. A
timestamp that goes back (a join with overlapping timestamps) starts a new run, not a hole.
A stream is variable-rate only where a step misses a whole frame slot or more, or two frames
share one (phone footage, screen captures, frames dropped with their timestamps kept). Under
the `conform` policy such a film is retimed to a constant rate on the decoded side
(decode.retime): slot k shows the frame on screen at time k/rate, as FFmpeg's fps filter does,
so the audio stays in sync; `conform_events` says which frames that repeats or drops.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from statistics import median

from tasks.media.decode import retime
from tasks.spec import parse_fps

# A frame step further than this share of a frame from the nominal step makes a film variable.
STEP_TOLERANCE = 0.5
# Rates a variable-rate film is snapped to when its typical step is this close to one.
STANDARD_RATES = tuple(
    Fraction(r)
    for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60")
)
_SNAP = Fraction(1, 200)
_HEADER_TOLERANCE = Fraction(1, 200)


def parse_rate(value: object) -> Fraction | None:
    try:
        return parse_fps(str(value))
    except ValueError:
        return None


def header_rate(r_frame_rate: object, avg_frame_rate: object) -> Fraction | None:
    """The exact rate ffprobe's two header rates agree on, or the average snapped."""
    real, avg = parse_rate(r_frame_rate), parse_rate(avg_frame_rate)
    # r_frame_rate is exact for constant-rate films; for variable-rate ones it is a timebase
    # guess (e.g. 120 or 90000), so trust it only when the average agrees.
    if real is not None and (avg is None or abs(real - avg) <= real * _HEADER_TOLERANCE):
        return real
    return snap(avg) if avg is not None else None


def snap(rate: Fraction) -> Fraction:
    """The standard rate nearest `rate` within 0.5 %, else `rate` with a denominator <= 1001.
    (Nearest: 24 is within 0.5 % of 24000/1001 too, and must stay 24.)"""
    near = [s for s in STANDARD_RATES if abs(rate - s) <= s * _SNAP]
    if near:
        return min(near, key=lambda s: abs(rate - s))
    return rate.limit_denominator(1001)


def is_variable(times: list[float], rate: Fraction) -> bool:
    """Whether a step between presented frames (in presentation order) is off the nominal
    step by more than half a frame; a step back is a join of two runs, not a hole."""
    step = 1 / float(rate)
    return any(
        b > a and abs((b - a) - step) > step * STEP_TOLERANCE for a, b in pairwise(times)
    ) or any(b == a for a, b in pairwise(times))


def typical_rate(times: list[float]) -> Fraction | None:
    """The rate of the median frame step (what most of a variable-rate film runs at)."""
    steps = [b - a for a, b in pairwise(times) if b > a]
    if not steps:
        return None
    return snap(Fraction(1 / median(steps)).limit_denominator(100_000))


def conform_slots(times: list[float], rate: Fraction, count: int) -> list[int]:
    """Which presented frame each of `count` constant-rate slots shows (decode.retime's rule)."""
    return list(retime(((t, i) for i, t in enumerate(times)), rate, count))


def conform_events(slots: list[int], frames: int) -> list[tuple[int, int, int]]:
    """(slot, repeated, dropped) wherever conforming changes the film: at output frame `slot`,
    `repeated` extra copies of a frame (a hole filled) or `dropped` frames never shown before it."""
    events: list[tuple[int, int, int]] = []
    shown = -1
    for slot, frame in enumerate(slots):
        if frame == shown:
            last = events[-1] if events else None
            if last is not None and last[1] and last[0] + last[1] == slot:
                events[-1] = (last[0], last[1] + 1, 0)  # the same hole, one more slot
            else:
                events.append((slot, 1, 0))
        elif frame > shown + 1:
            events.append((slot, 0, frame - shown - 1))
        shown = max(shown, frame)
    if slots and frames - 1 > shown:
        events.append((len(slots), 0, frames - 1 - shown))
    return events


def constant_rate_frames(times: list[float], rate: Fraction) -> int:
    """How many frames at `rate` cover the span from the first frame to the end of the last."""
    if not times:
        return 0
    step = 1 / float(rate)
    return max(1, round((times[-1] + step - times[0]) * float(rate)))


# Where the frames have drifted off the nominal grid by more than this share of a frame, a
# join's gap (or overlap) is kept from there on. Jitter (timestamps rounded to the millisecond,
# say) never adds up to it; the sound stays within it of the frames, well under an audio frame.
JOIN_SHARE = 1 / 8
# More shifts than this are no joins but a wandering clock: the film keeps the exact grid.
MAX_JOINS = 1000


def join_shifts(times: list[float], rate: Fraction) -> list[tuple[int, float]]:
    """(frame, seconds) wherever a constant-rate film's presented frames have drifted off the
    nominal grid by more than JOIN_SHARE of a frame since the last shift (the gap `-c copy`
    joins leave, or an overlap): from `frame` on, every frame is shown that much later (or
    earlier). The sound was joined with the pictures, so a film made at exactly frame/rate
    keeps sync only if its frames keep these shifts too (assemble). A step back (a join whose
    timestamps start again) is no drift."""
    step = 1 / float(rate)
    drift = kept = 0.0
    shifts: list[tuple[int, float]] = []
    for frame, (a, b) in enumerate(pairwise(times), start=1):
        if b > a:
            drift += (b - a) - step
        if abs(drift - kept) > step * JOIN_SHARE:
            shifts.append((frame, drift - kept))
            kept = drift
    return shifts if len(shifts) <= MAX_JOINS else []
