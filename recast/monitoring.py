"""Prometheus and a Pushgateway on loopback ports, from the Debian packages' binaries.

`recast up --monitoring` runs them beside Airflow, and the tests start the same pair: the stages
push to the gateway (RECAST_PUSHGATEWAY), Prometheus scrapes it with `honor_labels` (the pushed
labels are kept) and evaluates Recast's alert rules (deploy/monitoring/rules.yaml).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recast.s3server import stop_server

RULES = Path(__file__).resolve().parents[1] / "deploy" / "monitoring" / "rules.yaml"
BINARIES = {"prometheus": "prometheus", "pushgateway": "prometheus-pushgateway"}


@dataclass(frozen=True)
class Monitoring:
    prometheus: str
    pushgateway: str

    def env(self) -> dict[str, str]:
        """What a stage needs to push its figures here."""
        return {"RECAST_PUSHGATEWAY": self.pushgateway}

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query through Prometheus' HTTP API: the result vector."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def binary(name: str) -> str:
    path = shutil.which(BINARIES[name])
    if path is None:
        raise RuntimeError(
            f"{BINARIES[name]} is not installed: scripts/bootstrap.sh installs the Debian "
            "packages prometheus and prometheus-pushgateway"
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prometheus_config(pushgateway: str, scrape_every: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_every, "evaluation_interval": scrape_every},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,  # keep the stages' job and grouping labels
                "static_configs": [{"targets": [pushgateway.removeprefix("http://")]}],
            }
        ],
    }


def _wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} not ready on {url} in {timeout:.0f}s")


@contextmanager
def _server(command: list[str], ready: str, what: str, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(ready, proc, what, timeout=30)
        yield
    finally:
        stop_server(proc, grace=10)


@contextmanager
def monitoring(home: Path, *, scrape_every: str = "15s") -> Iterator[Monitoring]:
    """A Pushgateway and a Prometheus scraping it, on free loopback ports; stopped on exit."""
    home.mkdir(parents=True, exist_ok=True)
    gateway = f"http://127.0.0.1:{_free_port()}"
    prom_port = _free_port()
    config = home / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(gateway, scrape_every)))
    with ExitStack() as stack:
        stack.enter_context(
            _server(
                [
                    binary("pushgateway"),
                    f"--web.listen-address={gateway[7:]}",
                    # Debian's default is one file in /var/lib for every gateway on the machine.
                    f"--persistence.file={home / 'pushgateway.data'}",
                ],
                f"{gateway}/-/ready",
                "the Pushgateway",
                home / "pushgateway.log",
            )
        )
        stack.enter_context(
            _server(
                [
                    binary("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={home / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                f"http://127.0.0.1:{prom_port}/-/ready",
                "Prometheus",
                home / "prometheus.log",
            )
        )
        yield Monitoring(f"http://127.0.0.1:{prom_port}", gateway)
