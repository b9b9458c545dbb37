"""SMPTE timecode of a film: parse, check, step by frames, and pack for image headers.

Arithmetic is the `timecode` package's (drop-frame counting included). A film's timecode is
its own (MOV `tmcd`, MXF timecode component, format or stream tags: probe.py); a film without
one starts at the spec's `start_timecode`, else at 00:00:00:00. 29.97 and 59.94 count in
drop-frame (`;` before the frames) unless the film's own timecode says non-drop (`:`).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from timecode.timecode import Timecode

ZERO = "00:00:00:00"
_PATTERN = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})$")
_DROP_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def check_format(value: str) -> str:
    """`value` if it reads as HH:MM:SS:FF (or ;FF for drop-frame) with every part in range;
    ValueError in the user's words otherwise. The frames are checked against the rate later
    (`start_of`), once the film's rate is known."""
    found = _PATTERN.match(value.strip())
    if not found:
        raise ValueError(f"timecode {value!r} is not HH:MM:SS:FF (or HH:MM:SS;FF, drop-frame)")
    hours, minutes, seconds, _sep, frames = found.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59 or int(frames) > 59:
        raise ValueError(f"timecode {value!r} is out of range (up to 23:59:59:59)")
    return value.strip()


def nominal(rate: Fraction) -> int:
    """Frames per timecode second, as the `timecode` package counts them: 24 for 23.976, 30
    for 29.97, 7 for 7.5."""
    return round(rate) if rate.denominator == 1001 else math.floor(rate)


def expressible(rate: Fraction) -> bool:
    """Whether HH:MM:SS:FF can count this rate's frames (two digits: up to 100 fps)."""
    return 1 <= nominal(rate) <= 100


def is_drop_rate(rate: Fraction) -> bool:
    return rate in _DROP_RATES


def _timecode(value: str, rate: Fraction) -> Timecode:
    check_format(value)
    frames = int(value[-2:])
    if frames >= nominal(rate):
        raise ValueError(
            f"timecode {value!r} has frame {frames}; {rate} fps counts 0..{nominal(rate) - 1}"
        )
    drop = is_drop_rate(rate) and value[-3] == ";"
    return Timecode(str(rate), value.replace(";", ":") if not drop else value,
                    force_non_drop_frame=not drop)  # fmt: skip


def start_of(own: str | None, fallback: str | None, rate: Fraction) -> str:
    """The film's start timecode: its own, else the spec's, else zero, written the SMPTE way
    for `rate` (drop-frame `;` at 29.97/59.94 unless the film's own timecode is non-drop)."""
    if own:  # some muxers mark drop-frame with '.' or ','
        own = own.strip()
        return str(_timecode(own[:-3] + own[-3:].replace(".", ";").replace(",", ";"), rate))
    value = fallback or ZERO
    if is_drop_rate(rate):
        value = value[:-3] + ";" + value[-2:]
    return str(_timecode(value, rate))


def frame_number(value: str, rate: Fraction) -> int:
    """Frames from 00:00:00:00 to `value` (drop-frame aware)."""
    return int(_timecode(value, rate).frames) - 1


def shift(value: str, frames: int, rate: Fraction) -> str:
    """The timecode `frames` frames after `value` (wrapping at 24 hours, as the library does)."""
    start = _timecode(value, rate)
    return str(start + frames) if frames else str(start)


# SMPTE 12M word 0: (bit of the units digit, bits of the tens digit) for HH, MM, SS, FF.
_BCD = ((24, 2), (16, 3), (8, 3), (0, 2))


def smpte_words(value: str) -> tuple[int, int]:
    """SMPTE 12M packed (BCD) timecode as two 32-bit words: the `smpte:TimeCode` attribute
    OpenImageIO writes into EXR (`timeCode`) and DPX headers. Bit 6 flags drop-frame."""
    check_format(value)
    parts = [int(p) for p in re.split(r"[:;]", value.strip())]
    word = 0
    for (at, _tens), part in zip(_BCD, parts, strict=True):
        word |= ((part // 10) << 4 | part % 10) << at
    if value.strip()[-3] != ":":
        word |= 1 << 6
    return word, 0


def from_smpte_words(words: tuple[int, int] | list[int]) -> str:
    """The timecode that `smpte_words` packed."""
    word = int(words[0])
    parts = [((word >> (at + 4)) & ((1 << tens) - 1)) * 10 + ((word >> at) & 0xF)
             for at, tens in _BCD]  # fmt: skip
    sep = ";" if word & (1 << 6) else ":"
    return f"{parts[0]:02d}:{parts[1]:02d}:{parts[2]:02d}{sep}{parts[3]:02d}"
