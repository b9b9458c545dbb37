"""Frame rates: the exact rational of a constant-rate stream, and variable-rate detection.

A stream is variable-rate when its presentation timestamps are not evenly spaced at its rate
(phone footage, screen captures, a file with a timestamp gap). Such a film is retimed to a
constant rate on the decoded side (see frames.retime): slot k shows the frame on screen at
time k/rate, as FFmpeg's fps filter does, so the audio stays in sync.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from statistics import median

from tasks.spec import parse_fps

# A frame step further than this share of a frame from the nominal step makes a film variable.
STEP_TOLERANCE = 0.25
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
    """The standard rate within 0.5 % of `rate`, else `rate` with a denominator <= 1001."""
    for standard in STANDARD_RATES:
        if abs(rate - standard) <= standard * _SNAP:
            return standard
    return rate.limit_denominator(1001)


def is_variable(times: list[float], rate: Fraction) -> bool:
    """Whether any step between presented frames is off the nominal step by a quarter frame."""
    step = 1 / float(rate)
    return any(abs((b - a) - step) > step * STEP_TOLERANCE for a, b in pairwise(times))


def typical_rate(times: list[float]) -> Fraction | None:
    """The rate of the median frame step (what most of a variable-rate film runs at)."""
    steps = [b - a for a, b in pairwise(times) if b > a]
    if not steps:
        return None
    return snap(Fraction(1 / median(steps)).limit_denominator(100_000))


def constant_rate_frames(times: list[float], rate: Fraction) -> int:
    """How many frames at `rate` cover the span from the first frame to the end of the last."""
    if not times:
        return 0
    step = 1 / float(rate)
    return max(1, round((times[-1] + step - times[0]) * float(rate)))
