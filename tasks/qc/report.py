"""The render report: per shot what was found and replaced, with warnings; per stage the cost.

A supervisor signs a render off by looking, so the HTML carries each shot's before/after frame
(the JPEGs assemble wrote); the JSON carries the same numbers for machines (and for the tests
that check them), including every sampled face's identity similarity (`tasks.qc.identity`).
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from tasks.qc.identity import FaceSample, Thresholds
from tasks.qc.thumbs import ShotThumbs
from tasks.spec import ShotList

DEFAULT_THRESHOLDS = Thresholds(similarity=0.35, detection=0.6)


def shot_rows(
    shots: ShotList,
    swaps: list[dict[str, Any]],
    identity: Sequence[FaceSample] = (),
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """One row per shot, summing what every unit that touched it reported."""
    totals: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "faces_found": 0,
            "faces_swapped": 0,
            "flicker": [],
            "frames_reused": 0,
            "needs_compositor": 0,
            "compositor_faces": 0,
        }
    )
    for unit in swaps:
        for entry in unit.get("per_shot", []):
            row = totals[entry["shot"]]
            row["frames_reused"] += entry.get("frames_reused", 0)
            row["reused_from"] = row.get("reused_from") or entry.get("reused_from")
            row["faces_found"] += entry.get("faces_found", 0)
            row["faces_swapped"] += entry.get("faces_swapped", 0)
            row["needs_compositor"] += entry.get("needs_compositor", 0)
            row["compositor_faces"] += entry.get("compositor_faces", 0)
            if entry.get("flicker") is not None:
                row["flicker"].append(float(entry["flicker"]))
    measured: dict[int, list[FaceSample]] = defaultdict(list)
    for sample in identity:
        measured[sample.shot].append(sample)
    rows = []
    for shot in shots.shots:
        t = totals[shot.index]
        samples = measured[shot.index]
        rows.append(
            {
                "shot": shot.index,
                "start_frame": shot.start_frame,
                "end_frame": shot.end_frame,
                "frames": shot.frames,
                "faces_found": t["faces_found"],
                "faces_swapped": t["faces_swapped"],
                # The worst sample: a shot is as good as its least convincing face.
                "similarity": _round(min((s.to_source for s in samples), default=None)),
                "similarity_to_original": _round(
                    max((s.to_original for s in samples), default=None)
                ),
                "detection": _round(min((s.detection for s in samples), default=None)),
                "identity": [s.as_dict() for s in samples],
                "flicker": max(t["flicker"]) if t["flicker"] else None,
                "frames_reused": t["frames_reused"],  # taken from an earlier render
                "reused_from": t.get("reused_from"),
                "needs_compositor": t["needs_compositor"],  # face-frames
                "compositor_faces": t["compositor_faces"],  # distinct faces (per unit)
                "warnings": _shot_warnings(t["faces_found"], t["faces_swapped"])
                + _compositor_warnings(t["needs_compositor"])
                + _identity_warnings(samples, thresholds),
            }
        )
    return rows


def _reuse_line(rows: list[dict[str, Any]]) -> str:
    reused = [r for r in rows if r.get("frames_reused")]
    if not reused:
        return "Every frame computed for this render (nothing reused)."
    runs = sorted({str(r.get("reused_from")) for r in reused})
    shots = ", ".join(f"{r['shot']} ({r['frames_reused']}/{r['frames']})" for r in reused)
    return f"Frames reused from run {', '.join(runs)}: shots {shots}."


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _compositor_warnings(turned: int) -> list[str]:
    """Faces the swap left alone, turned too far to follow (tasks.faces.engine.PROFILE_TURN)."""
    if not turned:
        return []
    return [f"needs a compositor: {turned} faces turned too far to replace (faces.json lists them)"]


def _shot_warnings(found: int, swapped: int) -> list[str]:
    if found == 0:
        return ["no face in this shot"]
    if swapped == 0:
        return ["faces found, none matched a mapping"]
    return []


def _of(sample: FaceSample) -> str:
    """Which mapping, so a render with several actors says whose face it means."""
    return "" if sample.mapping is None else f" (face mapping {sample.mapping})"


def _identity_warnings(samples: list[FaceSample], limits: Thresholds) -> list[str]:
    """One warning per kind, naming the worst frame: a long shot does not flood the report."""
    warnings = []
    far = [s for s in samples if s.to_source < limits.similarity]
    if far:
        worst = min(far, key=lambda s: s.to_source)
        warnings.append(
            f"replaced face far from its source{_of(worst)} at frame {worst.frame} "
            f"(similarity {worst.to_source:.2f} < {limits.similarity:.2f})"
        )
    closer = [s for s in samples if s.to_original >= s.to_source]
    if closer:
        worst = max(closer, key=lambda s: s.to_original - s.to_source)
        warnings.append(
            f"replaced face{_of(worst)} still looks like the original at frame {worst.frame} "
            f"(to original {worst.to_original:.2f} >= to source {worst.to_source:.2f})"
        )
    weak = [s for s in samples if s.detection < limits.detection]
    if weak:
        worst = min(weak, key=lambda s: s.detection)
        warnings.append(
            f"low-confidence face detection at frame {worst.frame} "
            f"(score {worst.detection:.2f} < {limits.detection:.2f})"
        )
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
    identity: Sequence[FaceSample] = (),
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    embedder: str | None = None,
    conform: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`conform`: the probe's account of a variable-rate source's retiming (Probe.conform)."""
    rows = shot_rows(shots, swaps, identity, thresholds)
    return {
        "conform": conform,
        "run_id": run_id,
        "asset": asset,
        "frames": frames,
        "shots": len(rows),
        "units": len(swaps),
        "faces_found": sum(r["faces_found"] for r in rows),
        "faces_swapped": sum(r["faces_swapped"] for r in rows),
        "consent_references": consent_references,
        "identity_model": embedder,
        "thresholds": {"similarity": thresholds.similarity, "detection": thresholds.detection},
        "per_shot": rows,
        "warnings": _conform_warnings(conform)
        + [f"shot {r['shot']}: {w}" for r in rows for w in r["warnings"]],
        **stage_costs(stage_seconds, unit_tiers),
    }


def conform_line(conform: dict[str, Any] | None) -> str | None:
    """One sentence: how conforming a variable-rate source changed its frames, and where."""
    if not conform:
        return None
    where = ", ".join(
        f"frame {e['frame']} "
        + (f"+{e['repeated']} repeated" if e["repeated"] else f"{e['dropped']} dropped before")
        for e in conform["events"]
    )
    more = f" and {conform['more_events']} more places" if conform["more_events"] else ""
    return (
        f"Variable-frame-rate source conformed: {conform['source_frames']} frames in, "
        f"{conform['repeated']} repeated, {conform['dropped']} dropped"
        + (f" (at {where}{more})" if where else "")
    )


def _conform_warnings(conform: dict[str, Any] | None) -> list[str]:
    line = conform_line(conform)
    return [line] if line else []


def _jpeg_data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _identity_cell(row: dict[str, Any]) -> str:
    if row["similarity"] is None:
        return "–"
    return (
        f"{_fmt(row['similarity'])}<br><small>original {_fmt(row['similarity_to_original'])}"
        f"<br>detection {_fmt(row['detection'])}</small>"
    )


def link_clips(report: dict[str, Any], clips: Sequence[dict[str, Any]]) -> None:
    """Each delivered shot clip (the `shots` delivery's `shots.json`) on its shot's row: its
    name, path under the delivery (beside qc.html) and source timecode."""
    rows = {r["shot"]: r for r in report["per_shot"]}
    for clip in clips:
        if clip["shot"] in rows:
            rows[clip["shot"]]["clip"] = {k: clip[k] for k in ("name", "path", "timecode")}


def _shot_cell(row: dict[str, Any]) -> str:
    clip = row.get("clip")
    if not clip:
        return str(row["shot"])
    e = html.escape
    return (
        f'{row["shot"]}<br><a href="{e(clip["path"])}">{e(clip["name"])}</a>'
        f"<br><small>{e(clip['timecode'] or '')}</small>"
    )


def _conform_html(conform: dict[str, Any] | None) -> str:
    line = conform_line(conform)
    return f'<p class="conform"><strong>{html.escape(line)}.</strong></p>\n' if line else ""


# Shown at this width; the files are twice that (thumbs.WIDTH) for sharp high-DPI screens.
THUMB_WIDTH = 160
# The page's filters and shot jump: a few lines, so the page needs nothing from the network.
_SCRIPT = """
const table = document.getElementById("shots");
for (const box of document.querySelectorAll("input[data-only]")) {
  box.addEventListener("change", () => table.classList.toggle(box.dataset.only, box.checked));
}
document.getElementById("goto").addEventListener("change", (event) => {
  const row = document.getElementById("shot-" + event.target.value);
  if (row) row.scrollIntoView();
});
"""


def _thumb_cells(
    shot: int, frames: dict[int, ShotThumbs], href: Callable[[int, str], str] | None, size: str
) -> str:
    """Inline JPEGs (a small render: one self-contained file), or lazily loaded files."""
    if href is not None:
        return "".join(
            f'<img loading=lazy {size} alt={side} src="{html.escape(href(shot, side))}">'
            for side in ("before", "after")
        )
    pair = frames.get(shot)
    if pair is None:
        return ""
    return (
        f'<img {size} alt=before src="{_jpeg_data_uri(pair.before)}">'
        f'<img {size} alt=after src="{_jpeg_data_uri(pair.after)}">'
    )


def _row_html(r: dict[str, Any], thumbs: str) -> str:
    e = html.escape
    kinds = " ".join(k for k, on in (("r", r["faces_swapped"]), ("w", r["warnings"])) if on)
    warn = "<br>".join(e(w) for w in r["warnings"])
    return (
        f'<tr id=shot-{r["shot"]} class="{kinds}"><td>{_shot_cell(r)}</td>'
        f"<td>{r['start_frame']}–{r['end_frame'] - 1}</td><td class=t>{thumbs}</td>"
        f"<td>{r['faces_found']}</td><td>{r['faces_swapped']}</td><td>{_identity_cell(r)}</td>"
        f"<td>{_fmt(r['flicker'])}</td><td>{_compositor_cell(r)}</td>"
        f"<td class=w>{warn}</td></tr>"
    )


def _compositor_cell(r: dict[str, Any]) -> str:
    """Faces left for a compositor (turned too far to replace): how many, in how many frames."""
    frames = r.get("needs_compositor") or 0
    if not frames:
        return ""
    faces = r.get("compositor_faces") or 0
    counted = _count(frames, "frame")
    return f"{_count(faces, 'face')} in {counted}" if faces else counted


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _index_html(rows: list[dict[str, Any]]) -> str:
    """Every shot as a link, the ones with warnings marked: the way into a long film."""
    links = (
        f'<a href="#shot-{r["shot"]}"{" class=w" if r["warnings"] else ""}>{r["shot"]}</a>'
        for r in rows
    )
    return f"<nav class=index>{' '.join(links)}</nav>"


def to_html(
    report: dict[str, Any],
    frames: dict[int, ShotThumbs] | None = None,
    *,
    thumb_href: Callable[[int, str], str] | None = None,
    aspect: float = 16 / 9,
    sheet_pages: Sequence[str] = (),
) -> str:
    """The QC page: header, contact sheet pages, a shot index, filters (replaced shots, shots
    with warnings) and one row per shot. Thumbnails inline from `frames` (one self-contained
    file, for a small render), or, with `thumb_href(shot, side)`, as files the browser loads
    lazily as rows scroll into view, so a 3,000-shot page stays small. `aspect`: the film's,
    so rows keep their height before their images arrive; `sheet_pages`: links to the sheet."""
    e = html.escape
    size = f"width={THUMB_WIDTH} height={max(1, round(THUMB_WIDTH / aspect))}"
    rows = [
        _row_html(r, _thumb_cells(r["shot"], frames or {}, thumb_href, size))
        for r in report["per_shot"]
    ]
    stages = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.1f}</td></tr>" for k, v in report["seconds"].items()
    )
    gpu = "".join(
        f"<tr><td>{e(k)}</td><td>{v:.1f}</td></tr>" for k, v in report["gpu_seconds"].items()
    )
    consent = ", ".join(e(c) for c in report["consent_references"]) or "none recorded"
    sheet = " ".join(f'<a href="{e(p)}">{n}</a>' for n, p in enumerate(sheet_pages, start=1))
    warned = sum(1 for r in report["per_shot"] if r["warnings"])
    replaced = sum(1 for r in report["per_shot"] if r["faces_swapped"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recast QC {e(report["run_id"])}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
td.t{{white-space:nowrap}} td.t img{{margin-right:4px;background:#ddd}}
td.w,a.w{{color:#a40}} h1{{font-size:20px}} nav.index{{line-height:1.8;max-height:12em;
overflow:auto;border:1px solid #ccc;padding:4px}} .filters{{margin:1em 0}}
#shots.r tr:not(.r):not(.h),#shots.w tr:not(.w):not(.h){{display:none}}
</style></head><body>
<h1>Recast render {e(report["run_id"])}</h1>
<p>Asset <code>{e(report["asset"])}</code>: {report["frames"]} frames, {report["shots"]} shots,
{report["units"]} units; {report["faces_found"]} faces found, {report["faces_swapped"]} replaced.
Consent: {consent}.</p>
<p>{e(_reuse_line(report["per_shot"]))}</p>
{_conform_html(report.get("conform"))}
<p>Identity similarity: cosine similarity ({e(str(report.get("identity_model") or "none"))}
embeddings) of the worst sampled replaced face to its source face, and of that shot's closest
face to the face it replaced; warnings below {report["thresholds"]["similarity"]:.2f}.</p>
{f"<p>Contact sheet, page {sheet}</p>" if sheet else ""}
<h2>Shots</h2>
{_index_html(report["per_shot"])}
<div class=filters><label><input type=checkbox data-only=r> only shots with replaced faces
({replaced})</label> <label><input type=checkbox data-only=w> only shots with warnings
({warned})</label> <label>go to shot <input id=goto type=number min=0 style="width:6em">
</label></div>
<table id=shots><tr class=h><th>shot</th><th>frames</th><th>before / after</th>
<th>faces found</th><th>replaced</th><th>identity similarity</th><th>flicker</th>
<th>needs a compositor</th><th>warnings</th></tr>
{"".join(rows)}</table>
<h2>Cost</h2>
<table><tr><th>stage</th><th>wall seconds</th></tr>{stages}</table>
<table><tr><th>tier</th><th>GPU seconds</th></tr>{gpu}</table>
<script>{_SCRIPT}</script>
</body></html>
"""
