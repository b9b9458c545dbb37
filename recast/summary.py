"""The lines `recast render` and `make demo` print when a render is done.

Totals first, then the shots with QC warnings (a feature has thousands of shots: at most
`WARNED_SHOTS` of them unless verbose), then where the files are. `verbose` lists every shot,
one line each, however many units a shot spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast_airflow.render import merge_shots

WARNED_SHOTS = 20  # shots with warnings listed without --verbose


def _shot_line(row: dict[str, Any], warnings: list[str]) -> str:
    line = (
        f"    shot {row['shot']:>4}: {row['frames']:>5} frames,"
        f" {row['faces_found']:>5} faces found, {row['faces_swapped']:>5} swapped"
    )
    return line + (f"  ! {'; '.join(warnings)}" if warnings else "")


def summary_lines(
    report: dict[str, Any],
    files: dict[str, Path],
    wall: float,
    *,
    qc: dict[str, Any] | None = None,
    verbose: bool = False,
) -> list[str]:
    """`report`: the published report.json; `qc`: the published qc.json (warnings per shot)."""
    seconds = report.get("seconds", {})
    rows = merge_shots(report.get("per_shot", []))
    warned = {
        int(r["shot"]): list(r["warnings"])
        for r in (qc or {}).get("per_shot", [])
        if r.get("warnings")
    }
    lines = [
        f"Recast render {report.get('run_id', '?')}: done in {wall:.1f}s",
        f"  frames {report.get('frames')}  shots {report.get('shots')}  units {report.get('units')}"
        f"  faces found {report.get('faces_found')}  faces swapped {report.get('faces_swapped')}"
        f"  shots with warnings {len(warned)}",
        "  seconds per stage: "
        + "  ".join(f"{name} {value:.1f}" for name, value in seconds.items()),
    ]
    shown = rows if verbose else [r for r in rows if r["shot"] in warned][:WARNED_SHOTS]
    lines += [_shot_line(r, warned.get(r["shot"], [])) for r in shown]
    hidden = 0 if verbose else len(warned) - len(shown)
    if hidden > 0:
        lines.append(f"    ... {hidden} more shots with warnings (--verbose lists every shot)")
    lines.append("  files:")
    lines += [f"    {name:<14} {path}" for name, path in files.items()]
    lines.append(f"  published      {report.get('film')}")
    return lines
