"""The render report: per shot what was found and replaced, with warnings; per stage the cost.

A supervisor signs a render off by looking, so the HTML carries each shot's before/after frame;
the JSON carries the same numbers for machines (and for the tests that check them).
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from tasks.spec import ShotList

# Below this identity similarity a replaced face is flagged: it may not read as the new actor.
LOW_SIMILARITY = 0.35


@dataclass(frozen=True)
class ShotFrames:
    before: np.ndarray
    after: np.ndarray


def shot_rows(shots: ShotList, swaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per shot, summing what every unit that touched it reported."""
    totals: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"faces_found": 0, "faces_swapped": 0, "similarity": [], "flicker": []}
    )
    for unit in swaps:
        for entry in unit.get("per_shot", []):
            row = totals[entry["shot"]]
            row["faces_found"] += entry.get("faces_found", 0)
            row["faces_swapped"] += entry.get("faces_swapped", 0)
            for key in ("similarity", "flicker"):
                if entry.get(key) is not None:
                    row[key].append(float(entry[key]))
    rows = []
    for shot in shots.shots:
        t = totals[shot.index]
        similarity = min(t["similarity"]) if t["similarity"] else None
        flicker = max(t["flicker"]) if t["flicker"] else None
        rows.append(
            {
                "shot": shot.index,
                "start_frame": shot.start_frame,
                "end_frame": shot.end_frame,
                "frames": shot.frames,
                "faces_found": t["faces_found"],
                "faces_swapped": t["faces_swapped"],
                "similarity": similarity,
                "flicker": flicker,
                "warnings": _shot_warnings(t["faces_found"], t["faces_swapped"], similarity),
            }
        )
    return rows


def _shot_warnings(found: int, swapped: int, similarity: float | None) -> list[str]:
    warnings = []
    if found == 0:
        warnings.append("no face in this shot")
    elif swapped == 0:
        warnings.append("faces found, none matched a mapping")
    if similarity is not None and similarity < LOW_SIMILARITY:
        warnings.append(f"replaced face far from its source (similarity {similarity:.2f})")
    return warnings


def stage_costs(
    stage_seconds: dict[str, float], unit_tiers: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Wall seconds per stage, and GPU-seconds per tier (what the render cost)."""
    gpu: dict[str, float] = defaultdict(float)
    for stage, tier in unit_tiers.items():
        gpu[tier] += stage_seconds.get(stage, 0.0)
    return {
        "seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        "gpu_seconds": {k: round(v, 3) for k, v in gpu.items()},
    }


def build(
    *,
    run_id: str,
    asset: str,
    shots: ShotList,
    swaps: list[dict[str, Any]],
    stage_seconds: dict[str, float],
    unit_tiers: dict[str, str],
    consent_references: list[str],
    frames: int,
) -> dict[str, Any]:
    rows = shot_rows(shots, swaps)
    return {
        "run_id": run_id,
        "asset": asset,
        "frames": frames,
        "shots": len(rows),
        "units": len(swaps),
        "faces_found": sum(r["faces_found"] for r in rows),
        "faces_swapped": sum(r["faces_swapped"] for r in rows),
        "consent_references": consent_references,
        "per_shot": rows,
        "warnings": [f"shot {r['shot']}: {w}" for r in rows for w in r["warnings"]],
        **stage_costs(stage_seconds, unit_tiers),
    }


def _jpeg_data_uri(frame: np.ndarray, width: int = 320) -> str:
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    if not ok:
        raise RuntimeError("could not encode a thumbnail")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def to_html(report: dict[str, Any], frames: dict[int, ShotFrames]) -> str:
    """A self-contained page (thumbnails inline), readable offline and from S3."""
    e = html.escape
    rows = []
    for r in report["per_shot"]:
        pair = frames.get(r["shot"])
        thumbs = (
            f'<img alt="before" src="{_jpeg_data_uri(pair.before)}">'
            f'<img alt="after" src="{_jpeg_data_uri(pair.after)}">'
            if pair
            else ""
        )
        warn = "<br>".join(e(w) for w in r["warnings"])
        rows.append(
            f"<tr><td>{r['shot']}</td><td>{r['start_frame']}–{r['end_frame'] - 1}</td>"
            f"<td class=t>{thumbs}</td><td>{r['faces_found']}</td><td>{r['faces_swapped']}</td>"
            f"<td>{_fmt(r['similarity'])}</td><td>{_fmt(r['flicker'])}</td>"
            f"<td class=w>{warn}</td></tr>"
        )
    stages = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.1f}</td></tr>" for k, v in report["seconds"].items()
    )
    gpu = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.1f}</td></tr>" for k, v in report["gpu_seconds"].items()
    )
    consent = ", ".join(e(c) for c in report["consent_references"]) or "none recorded"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recast QC {e(report["run_id"])}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
td.t{{white-space:nowrap}} td.t img{{margin-right:4px}}
td.w{{color:#a40}} h1{{font-size:20px}}
</style></head><body>
<h1>Recast render {e(report["run_id"])}</h1>
<p>Asset <code>{e(report["asset"])}</code>: {report["frames"]} frames, {report["shots"]} shots,
{report["units"]} units; {report["faces_found"]} faces found, {report["faces_swapped"]} replaced.
Consent: {consent}.</p>
<h2>Shots</h2>
<table><tr><th>shot</th><th>frames</th><th>before / after</th><th>faces found</th>
<th>replaced</th><th>identity similarity</th><th>flicker</th><th>warnings</th></tr>
{"".join(rows)}</table>
<h2>Cost</h2>
<table><tr><th>stage</th><th>wall seconds</th></tr>{stages}</table>
<table><tr><th>tier</th><th>GPU seconds</th></tr>{gpu}</table>
</body></html>
"""
