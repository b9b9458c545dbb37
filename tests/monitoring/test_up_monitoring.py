"""`recast up --monitoring`: Prometheus and a Pushgateway started beside Airflow, their URLs
printed, and Airflow (so every stage it runs) given the gateway. Airflow itself is replaced
here by a function that receives the same environment (the whole stack is tests/ui's)."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from recast import up as up_module
from recast.monitoring import Monitoring


def test_up_with_monitoring_starts_and_stops_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def airflow(home: Path, port: int, extra: dict[str, str]) -> int:
        from tasks import metrics

        seen.update(extra)
        printed = capsys.readouterr().out
        prometheus = printed.split("Prometheus", 1)[1].split()[0]
        mon = Monitoring(prometheus, extra["RECAST_PUSHGATEWAY"])
        assert f"Pushgateway  {mon.pushgateway}" in printed
        ctx = metrics.StageContext(stage="swap", run="r-up", unit="u0001", dag="recast_render")
        metrics.push_to(mon.pushgateway, ctx, "ok", 2.0, {"unit_id": "u0001", "frames": 7})
        # Prometheus scrapes every 15 s here (its production default): the gateway has it now.
        with urllib.request.urlopen(f"{mon.pushgateway}/metrics") as resp:
            assert "recast_stage_frames{" in resp.read().decode()
        rules = mon.query('ALERTS{alertname="RecastDropFolderNotPolled"} or vector(1)')
        assert rules  # Prometheus answers queries
        seen["urls"] = mon
        return 0

    monkeypatch.setattr(up_module, "_up", airflow)
    assert up_module.up(tmp_path, up_module._free_port(), monitoring=True) == 0
    mon = seen["urls"]
    for url in (mon.prometheus, mon.pushgateway):  # stopped with `recast up`
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)
