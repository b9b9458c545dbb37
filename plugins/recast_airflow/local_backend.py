"""The local backend: a stage runs as a subprocess with exactly the command line a pod runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from recast_airflow import masking
from recast_airflow.config import Settings
from tasks.allowlist import ENV as ALLOW_ENV

EXIT_REFUSED = 2  # tasks.cli: bad input, a retry cannot help


class LocalStageOperator(BaseOperator):
    """Runs `python -m tasks <arguments>` and pushes the stage's JSON result to XCom."""

    template_fields: Sequence[str] = ("arguments",)
    ui_color = "#e8f0fe"

    def __init__(self, *, arguments: list[str], tier: str = "cpu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arguments = arguments
        self.tier = tier

    def execute(self, context: Any) -> Any:
        masking.register()  # the stage's output is relayed line by line: mask what it may echo
        with tempfile.TemporaryDirectory(prefix="recast-result-") as tmp:
            result_path = Path(tmp) / "return.json"
            env = {**os.environ, "RECAST_RESULT_PATH": str(result_path)}
            # The stage checks its command line against the same buckets as validate.
            env[ALLOW_ENV] = Settings.from_env().allowlist().env_value()
            env.update(self._metrics_env(context))
            command = [sys.executable, "-m", "tasks", *map(str, self.arguments)]
            self.log.info("running %s (tier %s)", " ".join(command[1:]), self.tier)
            tail = self._run(command, env, _stage_log(context))
            if tail.returncode == EXIT_REFUSED:
                raise AirflowFailException(tail.reason)
            if tail.returncode != 0:
                raise AirflowException(tail.reason)
            return json.loads(result_path.read_text())

    def _metrics_env(self, context: Any) -> dict[str, str]:
        """What the stage's metrics and log lines carry (tasks.metrics.StageContext)."""
        ti = context.get("ti")
        return {
            "RECAST_DAG": str(self.dag_id),
            "RECAST_TIER": self.tier,
            "RECAST_TRY": str(getattr(ti, "try_number", 1) or 1),
            "RECAST_GPUS": "0",  # a local process holds no GPU, whatever its tier's pods would
        }

    def _run(
        self, command: list[str], env: dict[str, str], log_file: Path | None = None
    ) -> _Outcome:
        last: deque[str] = deque(maxlen=20)
        with (
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as proc,
            _kept(log_file) as kept,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                last.append(line)
                self.log.info("%s", line)
                kept.write(masking.masked(line) + "\n")
        reason = next((ln for ln in reversed(last) if ln.startswith("recast:")), None)
        return _Outcome(proc.returncode, reason or f"stage exited with {proc.returncode}")


def _kept(path: Path | None) -> IO[str]:
    """The stage-log file to append to (nowhere without one)."""
    if path is None:
        return open(os.devnull, "w")  # entered by the caller's `with`
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a")


def _stage_log(context: Any) -> Path:
    """Where the stage's own lines are kept as it printed them (JSON, tasks.jsonlog), one file
    per run as a log shipper reads a pod's: `$AIRFLOW_HOME/stage-logs/<dag>/<run>.log`."""
    from tasks.layout import safe_run_id

    home = Path(os.environ.get("AIRFLOW_HOME", "."))
    dag = context["dag"].dag_id if context.get("dag") else "unknown"
    return home / "stage-logs" / dag / f"{safe_run_id(str(context.get('run_id', 'run')))}.log"


class _Outcome:
    def __init__(self, returncode: int, reason: str) -> None:
        self.returncode = returncode
        self.reason = reason
