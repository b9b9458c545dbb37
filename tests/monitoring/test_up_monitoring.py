"""`recast up --monitoring`: Prometheus and a Pushgateway started beside Airflow, their URLs
printed, and Airflow (so every stage it runs) given the gateway. Airflow itself is replaced
here by a stand-in that receives the same environment (the whole stack is tests/ui's)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recast import up as up_module
from recast.monitoring import Monitoring


class _Stop(Exception):
    """Raised by the stand-in once it has checked the servers: `up` unwinds and stops them."""


def test_up_with_monitoring_starts_and_stops_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    @contextmanager
    def airflow(home: Path, *, port: int, extra_env: dict[str, str]) -> Iterator[Any]:
        from tasks import metrics

        printed = capsys.readouterr().out
        mon = Monitoring(
            printed.split("Prometheus", 1)[1].split()[0], extra_env["RECAST_PUSHGATEWAY"]
        )
        assert f"Pushgateway  {mon.pushgateway}" in printed
        ctx = metrics.StageContext(stage="swap", run="r-up", unit="u0001", dag="recast_render")
        metrics.push_to(mon.pushgateway, ctx, "ok", 2.0, {"unit_id": "u0001", "frames": 7})
        with urllib.request.urlopen(f"{mon.pushgateway}/metrics") as resp:
            assert "recast_stage_frames{" in resp.read().decode()
        assert mon.query("vector(1)")  # Prometheus answers queries
        seen["servers"] = mon
        raise _Stop
        yield  # pragma: no cover

    monkeypatch.setattr(up_module, "airflow_stack", airflow)
    with pytest.raises(_Stop):
        up_module.up(tmp_path, up_module._free_port(), monitoring=True)
    mon = seen["servers"]
    for url in (mon.prometheus, mon.pushgateway):  # stopped with `recast up`
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)


def test_up_without_monitoring_adds_nothing(tmp_path: Path) -> None:
    with up_module.monitoring_env(tmp_path, False) as extra:
        assert extra == {}
    assert not (tmp_path / "monitoring").exists()
