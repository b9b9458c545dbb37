"""The laptop's work area, kept between `recast render`s under RECAST_HOME/work.

The embedded S3 server (moto) holds everything in memory and forgets it when it stops. So:
- the unit cache, reuse index included, is a folder, `work/cache` (RECAST_UNIT_CACHE: every
  stage runs on this machine, and tasks.storage reads and writes local paths as it does S3);
- each finished render's run (its JSON files and finished units, not the split sources) is saved
  to `work/runs/<run>/`, and put back into the server when a later render names it as its base.
`recast cache` shows the sizes and prunes by age or total size, oldest first. Clusters keep
their cache in S3 and expire it with a lifecycle rule (deploy/README.md).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.layout import safe_run_id

# Saved from a run: what a scoped re-render reads of its base (tasks.scope, stages.swap).
_KEEP_SUFFIXES = (".json", "restored.mkv")


def root(home: Path) -> Path:
    return home / "work"


def cache_dir(home: Path) -> Path:
    return root(home) / "cache"


def runs_dir(home: Path) -> Path:
    return root(home) / "runs"


def save_run(client: Any, bucket: str, run_id: str, home: Path) -> Path:
    """Copy the run's prefix out of the server (JSON and finished units)."""
    name = safe_run_id(run_id)
    prefix = f"runs/{name}/"
    dest = runs_dir(home) / name
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if "/.attempts/" in key or not key.endswith(_KEEP_SUFFIXES):
                continue
            target = dest / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.part")
            client.download_file(bucket, key, str(part))
            part.replace(target)
    return dest


def restore_run(client: Any, bucket: str, run_id: str, home: Path) -> bool:
    """Put a saved run back into the server; False when none is saved under that name."""
    name = safe_run_id(run_id)
    saved = runs_dir(home) / name
    if not saved.is_dir():
        return False
    for path in sorted(saved.rglob("*")):
        if path.is_file() and not path.name.endswith(".part"):
            client.upload_file(str(path), bucket, f"runs/{name}/{path.relative_to(saved)}")
    return True


@dataclass(frozen=True)
class Entry:
    """One thing the work area holds: a unit cache entry, a reuse record or a saved run."""

    path: Path
    kind: str
    size: int
    mtime: float


def entries(home: Path) -> list[Entry]:
    found = []
    units = cache_dir(home) / "units"
    kinds = [(units, "unit"), (runs_dir(home), "run")]
    for folder, kind in kinds:
        for item in sorted(folder.iterdir()) if folder.is_dir() else []:
            files = [p for p in item.rglob("*") if p.is_file()] if item.is_dir() else [item]
            size = sum(p.stat().st_size for p in files)
            mtime = max((p.stat().st_mtime for p in files), default=item.stat().st_mtime)
            found.append(Entry(item, kind, size, mtime))
    shots = cache_dir(home) / "shots"
    for record in sorted(shots.rglob("*.json")) if shots.is_dir() else []:
        stat = record.stat()
        found.append(Entry(record, "reuse record", stat.st_size, stat.st_mtime))
    return found


def prune(
    home: Path, *, older_than_days: float | None = None, max_bytes: int | None = None
) -> list[Entry]:
    """Remove entries older than the age, then the oldest until under the size; then every
    reuse record whose files went with them. The entries removed."""
    now = time.time()
    kept = sorted(entries(home), key=lambda e: e.mtime)
    removed = []
    if older_than_days is not None:
        cutoff = now - older_than_days * 86400
        removed += [e for e in kept if e.mtime < cutoff]
        kept = [e for e in kept if e.mtime >= cutoff]
    if max_bytes is not None:
        while kept and sum(e.size for e in kept) > max_bytes:
            removed.append(kept.pop(0))
    for entry in removed:
        if entry.path.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)
    return removed + _dead_records(home)


def _dead_records(home: Path) -> list[Entry]:
    """Reuse records (and runs' indexes of them) naming a cache file that is gone: removed,
    they could only miss."""
    from pydantic import TypeAdapter

    from tasks.reuse import INDEX, Record

    dead = []
    for entry in entries(home):
        if entry.kind != "reuse record":
            continue
        try:
            text = entry.path.read_text()
            many = entry.path.parent.name == INDEX
            records = (
                TypeAdapter(list[Record]).validate_json(text)
                if many
                else [Record.model_validate_json(text)]
            )
            files = [f.uri for r in records for f in (r.source, r.output, r.faces)]
        except ValueError:
            files = []
        if not files or not all(Path(f).is_file() for f in files):
            entry.path.unlink(missing_ok=True)
            dead.append(entry)
    return dead


def report_lines(home: Path) -> list[str]:
    found = entries(home)
    lines = [f"work area {root(home)}"]
    for kind in ("unit", "reuse record", "run"):
        mine = [e for e in found if e.kind == kind]
        size = sum(e.size for e in mine)
        oldest = min((e.mtime for e in mine), default=None)
        age = f", oldest {(time.time() - oldest) / 86400:.1f} days" if oldest else ""
        lines.append(f"  {kind + 's':<14} {len(mine):>6}  {size / 2**20:>10.1f} MiB{age}")
    lines.append(
        f"  {'total':<14} {len(found):>6}  {sum(e.size for e in found) / 2**20:>10.1f} MiB"
    )
    return lines
