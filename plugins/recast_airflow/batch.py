"""Batch renders: every asset listed in a manifest in S3, highest priority first.

    defaults:               # optional: merged under every entry
      tier: spot
      faces: [{source: faces/lead.png, reference: faces/double.png}]
    renders:
      - {asset: reels/r1.mp4, priority: 10}
      - {asset: s3://archive/r2.mp4, consent_reference: REL-2041}

Each entry has the form's schema (plus `priority`, higher first; default 0); relative inputs
are beside the manifest. Entries that do not validate are reported, and the others render.
"""

from __future__ import annotations

import posixpath
from typing import Any

from recast_airflow.dropfolder import run_outcome
from recast_airflow.jobs import parse_document, resolve_spec
from tasks import storage
from tasks.allowlist import BucketAllowList
from tasks.layout import delivery_prefix, safe_run_id
from tasks.spec import SpecError

RENDER_DAG = "recast_render"


def _entries(doc: Any) -> tuple[dict[str, Any], list[Any]]:
    if isinstance(doc, list):
        return {}, doc
    if isinstance(doc, dict) and isinstance(doc.get("renders"), list):
        defaults = doc.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise SpecError("manifest: `defaults` must be a mapping")
        return defaults, doc["renders"]
    raise SpecError("manifest: expected a list of renders, or {defaults, renders}")


def load(
    manifest_uri: str,
    batch_run_id: str,
    work_uri: str,
    allowed: BucketAllowList | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(renders sorted by priority, reasons of the refused entries, every problem of each).

    `allowed`: the buckets an entry may name; None: RECAST_ALLOWED_BUCKETS, else the work
    bucket and the manifest's.
    """
    allowed = allowed or BucketAllowList.from_env((work_uri, manifest_uri))
    name = manifest_uri.rsplit("/", 1)[-1]
    defaults, raw = _entries(parse_document(storage.read_bytes(manifest_uri), name))
    folder = posixpath.dirname(manifest_uri)
    renders, refused = [], []
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                raise SpecError("an entry must be a mapping")
            entry = {**defaults, **item}
            priority = int(entry.pop("priority", 0))
            conf = resolve_spec(entry, folder, allowed)
        except (SpecError, ValueError) as exc:
            refused.append(f"entry {index}: {exc}")
            continue
        run_id = f"batch__{safe_run_id(batch_run_id)}__{index:04d}"
        published = delivery_prefix(work_uri, conf["output_prefix"], conf["asset"], run_id)
        renders.append(
            {
                "index": index,
                "priority": priority,
                "asset": conf["asset"],
                "run_id": run_id,
                "conf": conf,
                "film": storage.join(published, "film.mp4"),
            }
        )
    # Mapped tasks start in map-index order, so the order here is the order renders start in.
    renders.sort(key=lambda r: (-r["priority"], r["index"]))
    return renders, refused


def trigger_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """For XComArg.map: one render per entry, its run ID fixed by the batch run and the entry."""
    return {"trigger_run_id": entry["run_id"], "conf": entry["conf"]}


def report(
    ti: Any, manifest_uri: str, batch_run_id: str, renders: list[dict[str, Any]], refused: list[str]
) -> dict[str, Any]:
    """What each entry became; written beside the manifest. Raises when any did not render."""
    rows = []
    for entry in renders:
        state, reason = run_outcome(ti, RENDER_DAG, entry["run_id"])
        film = entry["film"] if state == "success" else None
        rows.append(
            {**{k: entry[k] for k in ("index", "priority", "asset", "run_id")}}
            | {"state": state, "reason": reason, "film": film}
        )
    summary = {"manifest": manifest_uri, "renders": rows, "refused": refused}
    folder = posixpath.dirname(manifest_uri)
    storage.write_json(
        storage.join(folder, "reports", f"{safe_run_id(batch_run_id)}.json"), summary
    )
    failed = [r for r in rows if r["state"] != "success"]
    if failed or refused:
        problems = [f"{r['asset']}: {r['reason']}" for r in failed] + refused
        raise RuntimeError(f"{len(problems)} of the batch did not render: " + "; ".join(problems))
    return summary
