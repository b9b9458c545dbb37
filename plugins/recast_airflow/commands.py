"""The `python -m tasks` command line of each stage, built in one place for every backend."""

from __future__ import annotations

from tasks.layout import RunLayout


def probe(asset: str, layout: RunLayout) -> list[str]:
    return ["probe", asset, "--out", layout.probe]


def check_faces(layout: RunLayout) -> list[str]:
    return ["check-faces", "--spec", layout.spec]


def detect_shots(asset: str, layout: RunLayout, detector: str = "classical") -> list[str]:
    command = ["detect-shots", asset, "--out", layout.shots, "--census", layout.census]
    # The spec's shot_detector; the default stays off the command line, as before.
    return command if detector == "classical" else [*command, "--detector", detector]


def split(asset: str, layout: RunLayout) -> list[str]:
    return ["split", "--asset", asset, "--run", layout.prefix]


def unit(stage: str, layout: RunLayout, unit_id: str) -> list[str]:
    return [stage, "--run", layout.prefix, "--unit", unit_id]


def assemble(asset: str, layout: RunLayout) -> list[str]:
    return ["assemble", "--asset", asset, "--run", layout.prefix]


def finalize(asset: str, layout: RunLayout) -> list[str]:
    return ["finalize", "--asset", asset, "--run", layout.prefix]


def unit_ref(stage: str, ref: dict[str, str]) -> list[str]:
    """The command of one unit, from the plan's reference {run, unit, tier}."""
    return unit(stage, RunLayout(ref["run"]), ref["unit"])
