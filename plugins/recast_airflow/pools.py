"""The Airflow pools of the tiers: `python -m recast_airflow.pools [--max-slots N]` creates them.

A pool caps how many tasks of a tier run at once. Deferred tasks count (`include_deferred`):
a deferred pod task is a pod that holds, or waits for, a GPU on the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recast_airflow.airflow_cli import airflow_cli
from recast_airflow.config import Settings
from recast_airflow.tiers import Tier, load_tiers


def pool_table(tiers: dict[str, Tier], max_slots: int | None = None) -> dict[str, dict[str, Any]]:
    """`airflow pools import` JSON; tiers sharing a pool share its largest size."""
    members: dict[str, list[Tier]] = {}
    for tier in tiers.values():
        members.setdefault(tier.pool, []).append(tier)
    return {
        pool: {
            "slots": min(max(t.pool_slots for t in group), max_slots or sys.maxsize),
            "description": "Recast tiers: " + ", ".join(t.name for t in group),
            "include_deferred": True,
        }
        for pool, group in members.items()
    }


def apply(
    tiers_file: Path, max_slots: int | None = None, env: dict[str, str] | None = None
) -> None:
    """Create or resize the pools in the Airflow metadata database this process points at."""
    table = pool_table(load_tiers(tiers_file), max_slots)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="recast-pools-") as fh:
        json.dump(table, fh)
        fh.flush()
        airflow_cli("pools", "import", fh.name, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m recast_airflow.pools", description=__doc__)
    p.add_argument("--max-slots", type=int, help="cap every pool (a laptop: 2)")
    p.add_argument("--print", action="store_true", help="print the pools, create nothing")
    args = p.parse_args(argv)
    tiers_file = Settings.from_env().tiers_file
    if args.print:
        print(json.dumps(pool_table(load_tiers(tiers_file), args.max_slots), indent=2))
    else:
        apply(tiers_file, args.max_slots)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
