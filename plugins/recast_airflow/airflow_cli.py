"""Run Airflow's own CLI in a child process, failing with its last line of output."""

from __future__ import annotations

import subprocess
import sys


def airflow_cli(*args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"airflow {' '.join(args[:2])} failed: {' '.join(tail)}")
