"""A listener that keeps the one-line reason of each failed task, per run.

Airflow logs the traceback; an operator at a terminal (and `recast render`) wants the reason:
"asset not found: s3://...", not the stack. Reasons go to $AIRFLOW_HOME/recast-failures.jsonl.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl


def _log_path() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", ".")) / "recast-failures.jsonl"


def one_line(error: object) -> str:
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    return first.removeprefix("recast: ")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    if error is None:
        return
    record = {
        "run_id": task_instance.run_id,
        "task_id": task_instance.task_id,
        "reason": one_line(error),
    }
    with _log_path().open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def last_failure(run_id: str) -> str | None:
    """The first failure of the run (later ones are usually its consequences)."""
    path = _log_path()
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["run_id"] == run_id:
            return f"{record['task_id']}: {record['reason']}"
    return None
