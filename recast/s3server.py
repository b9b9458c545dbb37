"""An embedded S3-compatible server on loopback (moto's standalone server) for laptops and tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "recast-local",
    "AWS_SECRET_ACCESS_KEY": "recast-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self) -> dict[str, str]:
        """What boto3 (in this process, a stage subprocess or Airflow) needs to reach it."""
        conn = json.dumps(
            {
                "conn_type": "aws",
                "login": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "password": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "extra": {
                    "endpoint_url": self.endpoint,
                    "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
                },
            }
        )
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "AIRFLOW_CONN_AWS_DEFAULT": conn}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(endpoint: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the embedded S3 server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the embedded S3 server did not answer on {endpoint} in {timeout:.0f}s")


def stop_server(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds: a loopback server this process started."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def embedded_s3(port: int | None = None) -> Iterator[S3Server]:
    """Start moto's server on 127.0.0.1, yield it, and stop it whatever happens."""
    port = port or _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
    )
    try:
        _wait_ready(endpoint, proc)
        yield S3Server(endpoint)
    finally:
        stop_server(proc, grace=3)
