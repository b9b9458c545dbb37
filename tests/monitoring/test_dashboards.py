"""The Grafana dashboard: generated deterministically, committed as generated, and every query
it runs parses as PromQL (promtool, on the queries as recording rules)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from recast import dashboards

COMMITTED = Path(__file__).resolve().parents[2] / "deploy/monitoring/grafana/dashboards/recast.json"
# Grafana's variables, as a user would pick them.
VARIABLES = {"$window": "3600", "$dag": ".*"}


def test_the_dashboard_generates_deterministically_and_is_committed_as_generated() -> None:
    first, second = dashboards.build(), dashboards.build()
    assert first == second
    assert json.loads(COMMITTED.read_text()) == first, "run: python -m recast.dashboards"


def test_the_dashboard_covers_what_operators_ask() -> None:
    board = dashboards.build()
    titles = " | ".join(p["title"] for p in board["panels"]).lower()
    for wanted in ("frames per second per tier", "gpu-seconds per tier", "gpu-seconds per render",
                   "tasks waiting per pool", "queue wait", "failed", "retried", "reuse rate",
                   "gpu utilisation"):  # fmt: skip
        assert wanted in titles
    assert {v["name"] for v in board["templating"]["list"]} == {"window", "dag"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="scripts/bootstrap.sh installs it")
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    exprs = dashboards.queries(dashboards.build())
    assert len(exprs) >= 15
    rules = []
    for i, expr in enumerate(exprs):
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, expr
        rules.append({"record": f"recast:dashboard_query_{i}", "expr": expr})
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout
