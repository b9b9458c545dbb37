"""A listener that keeps the one-line reason of each failed task, per run.

Airflow logs the traceback; an operator at a terminal (and `recast render`) wants the reason:
"asset not found: s3://...", not the stack. Reasons go to $AIRFLOW_HOME/recast-failures.jsonl,
and a render's first failure also to `<work>/runs/<run>/failure.json`, where the drop folder
and the batch read it (they run elsewhere, and so may its Airflow home).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

RENDER_DAG = "recast_render"


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
    if task_instance.dag_id == RENDER_DAG:
        _record_in_store(record)


def _failure_uri(run_id: str) -> str:
    from recast_airflow.config import Settings
    from tasks.layout import RunLayout
    from tasks.storage import join

    return join(RunLayout.for_run(Settings.from_env().work_uri, run_id).prefix, "failure.json")


def _record_in_store(record: dict[str, str]) -> None:
    """The first failure only (If-None-Match): later ones are usually its consequences."""
    from tasks import storage

    try:
        bucket, key = storage.split_uri(_failure_uri(record["run_id"]))
        storage.client().put_object(
            Bucket=bucket, Key=key, Body=json.dumps(record).encode(), IfNoneMatch="*"
        )
    except Exception as exc:  # a listener must never fail the task's bookkeeping
        logging.getLogger(__name__).debug("failure not recorded in the store: %s", exc)


def render_failure(run_id: str) -> str | None:
    """`task: reason` of a render's first failure, if it recorded one."""
    from tasks import storage

    uri = _failure_uri(run_id)
    if not storage.exists(uri):
        return None
    record = storage.read_json(uri)
    return f"{record['task_id']}: {record['reason']}"


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
