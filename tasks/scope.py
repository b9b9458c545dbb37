"""Shot-scoped re-renders: a published base render, and the few shots to compute again.

The spec names the base (`base_run`), the shots (`shots`: indices in the base's shot list or
timecode ranges) and per-shot overrides (`shot_overrides`). The run keeps the base's shot list
and units; every frame outside the chosen shots is taken from the base's finished units
(the restored mezzanine, lossless), so it is bit-exact in the mezzanine and, the master being
intra-frame ProRes, in the master. `scope.json` in the run records what was resolved.

Refused early, at validate (base missing, a shot index out of range, a timecode range that
selects nothing) and at plan, before any unit (an asset that is not the base's).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from pydantic import BaseModel, ConfigDict

from tasks import storage
from tasks.layout import RunLayout, safe_run_id
from tasks.spec import Probe, RenderSpec, ShotList, ShotOverride, SpecError, Unit, parse_fps

_TIMECODE = re.compile(r"(\d\d):(\d\d):(\d\d)([:;])(\d\d)")


class Scope(BaseModel):
    """What a scoped run resolved: the base run's prefix, its name, the shots to compute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str
    base_run: str
    shots: list[int]
    overrides: list[ShotOverride] = []

    def override(self, shot: int) -> ShotOverride | None:
        return next((o for o in self.overrides if o.shot == shot), None)

    def touches(self, unit: Unit) -> bool:
        return bool(set(unit.shots) & set(self.shots))

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.base)


def scope_path(layout: RunLayout) -> str:
    return storage.join(layout.prefix, "scope.json")


def base_layout(spec: RenderSpec, run_prefix: str) -> RunLayout | None:
    """The base run's prefix: beside this run, under the same `<work>/runs/`."""
    if spec.base_run is None:
        return None
    work, sep, _ = run_prefix.rstrip("/").rpartition("/runs/")
    if not sep:
        raise SpecError(f"base_run: the run {run_prefix} is not under a work area's runs/")
    return RunLayout.for_run(work, spec.base_run)


def resolve(spec: RenderSpec, base: RunLayout) -> Scope:
    """The base's shots the spec chose; SpecError naming every problem."""
    name = spec.base_run or ""
    if not (storage.exists(base.results) and storage.exists(base.shots)):
        raise SpecError(f"base_run {name!r}: no published render of that name ({base.prefix})")
    shots = ShotList.model_validate(storage.read_json(base.shots))
    start_tc = Probe.model_validate(storage.read_json(base.probe)).timecode
    problems: list[str] = []
    chosen: set[int] = set()
    count = len(shots.shots)
    refs = [*spec.shots, *(o.shot for o in spec.shot_overrides)]
    for ref in refs:
        if isinstance(ref, int) or ref.isdigit():
            index = int(ref)
            if not 0 <= index < count:
                problems.append(
                    f"shots: shot {index} is out of range: the base render {name} has "
                    f"{count} shots (0-{count - 1})"
                )
            chosen.add(index)
            continue
        try:
            lo, hi = (frames(tc, shots.fps, start_tc) for tc in ref.split("-"))
        except ValueError as exc:
            problems.append(f"shots: {ref}: {exc}")
            continue
        hit = {s.index for s in shots.shots if s.start_frame < hi and s.end_frame > lo}
        if not hit:
            problems.append(
                f"shots: {ref} selects no shot (frames {lo}-{hi}; the film has "
                f"{shots.frame_count} frames)"
            )
        chosen |= hit
    if problems:
        raise SpecError(f"refused scoped re-render: {'; '.join(problems)}", problems)
    return Scope(
        base=base.prefix,
        base_run=safe_run_id(name),
        shots=sorted(chosen),
        overrides=list(spec.shot_overrides),
    )


def frames(timecode: str, fps: str, start: str | None) -> int:
    """A timecode as a frame of the film (counted from its start timecode, if it has one);
    `;` counts drop-frame (29.97 and 59.94)."""
    rate = parse_fps(fps)
    at = _count(timecode, rate) - (_count(start, rate) if start else 0)
    if at < 0:
        raise ValueError(f"{timecode} is before the film's start timecode {start}")
    return at


def _count(timecode: str, rate: Fraction) -> int:
    match = _TIMECODE.fullmatch(timecode.strip())
    if match is None:
        raise ValueError(f"{timecode!r} is not a timecode HH:MM:SS:FF")
    h, m, s, sep, f = match.groups()
    nominal = round(rate)
    if int(f) >= nominal or int(m) > 59 or int(s) > 59:
        raise ValueError(f"{timecode} is not a valid timecode at {nominal} fps")
    total = (int(h) * 3600 + int(m) * 60 + int(s)) * nominal + int(f)
    if sep == ";" and nominal in (30, 60):  # drop-frame: 2 (4) numbers dropped a minute
        drop = nominal // 15
        minutes = int(h) * 60 + int(m)
        total -= drop * (minutes - minutes // 10)
    return total


def problems(spec: RenderSpec, run_prefix: str) -> list[str]:
    """validate's check of a scoped re-render: the base exists, the shots are in range."""
    base = base_layout(spec, run_prefix)
    if base is None:
        return []
    try:
        resolve(spec, base)
    except SpecError as exc:
        return list(exc.problems)
    return []


def prepare(spec: RenderSpec, layout: RunLayout) -> Scope | None:
    """plan's part: refuse another asset, take the base's shot list, write scope.json."""
    base = base_layout(spec, layout.prefix)
    if base is None:
        return None
    scope = resolve(spec, base)
    mine = Probe.model_validate(storage.read_json(layout.probe)).sha256
    theirs = Probe.model_validate(storage.read_json(base.probe)).sha256
    if mine != theirs:
        raise SpecError(
            f"asset: not the film of the base render {spec.base_run} (sha256 {str(mine)[:12]} "
            f"against {str(theirs)[:12]}): a scoped re-render redoes shots of the same film"
        )
    storage.copy(base.shots, layout.shots)  # the base's shot indices, whatever detect found
    storage.write_json(scope_path(layout), scope.model_dump_json())
    return scope


def splice(base: Path, computed: Path, picks: list[bool], out: Path) -> bool:
    """The unit's mezzanine from the base's finished unit and the computed frames, without
    decoding: frame i is the next packet of `computed` where `picks[i]`, else the base's packet
    i (FFV1 is intra-only: every packet is a whole frame), so every other frame keeps the
    base's bytes. False, writing nothing, when the two were not encoded alike (codec, size,
    pixel format or codec configuration): the caller re-encodes instead."""
    with av.open(str(base)) as old, av.open(str(computed)) as new:
        a, b = old.streams.video[0], new.streams.video[0]
        ca, cb = a.codec_context, b.codec_context
        alike = (ca.name, ca.width, ca.height, ca.pix_fmt, ca.extradata) == (
            cb.name, cb.width, cb.height, cb.pix_fmt, cb.extradata
        )  # fmt: skip
        if not alike or ca.name != "ffv1":
            return False
        theirs, mine = _packets(old, a), _packets(new, b)
        with av.open(str(out), "w", format="matroska") as sink:
            stream = sink.add_stream_from_template(a)
            for pick in picks:
                packet = next(theirs)
                if pick:  # this frame's timing, the computed frame's bytes
                    slot, packet = packet, next(mine)
                    packet.time_base = slot.time_base
                    packet.pts, packet.dts, packet.duration = slot.pts, slot.dts, slot.duration
                packet.stream = stream
                sink.mux(packet)
    return True


def _packets(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[av.Packet[Any]]:
    return (p for p in container.demux(stream) if p.size)


def for_run(layout: RunLayout) -> Scope | None:
    found = storage.read_json_if_any(scope_path(layout))
    return None if found is None else Scope.model_validate(found)
