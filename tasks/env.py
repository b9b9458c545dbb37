"""Settings read from the environment, refused with the variable's name when malformed."""

from __future__ import annotations

import os

from tasks.spec import SpecError


def env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SpecError(f"{name}={raw!r} is not a whole number") from exc
    if value < minimum:
        raise SpecError(f"{name}={value} is below {minimum}")
    return value
