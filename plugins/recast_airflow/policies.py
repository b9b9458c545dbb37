"""Cluster policy: each unit task waits in the Airflow pool of the tier its run chose.

A mapped task's pool is fixed when the DAG is parsed, but the tier is chosen per run (the
form's `tier`). Airflow calls this hook with the DagRun whenever it creates or refreshes a task
instance, so the hook moves tasks that sit in a GPU tier's pool to the pool of the run's tier:
a `spot` render queues behind other spot work, never behind `standard` renders.

Registered through plugins/airflow_local_settings.py (the plugins folder is on Airflow's path).
"""

from __future__ import annotations

import logging
from typing import Any

from recast_airflow.config import Settings
from recast_airflow.tiers import gpu_tiers, load_tiers

log = logging.getLogger(__name__)


def tier_pool(current_pool: str, conf: dict[str, Any] | None, settings: Settings) -> str:
    """The pool a task in `current_pool` belongs to, for a run with `conf`."""
    tiers = gpu_tiers(load_tiers(settings.tiers_file))
    if current_pool not in {t.pool for t in tiers.values()}:
        return current_pool  # not a unit task: CPU stages and other DAGs keep their pool
    chosen = (conf or {}).get("tier")
    return tiers[chosen].pool if isinstance(chosen, str) and chosen in tiers else current_pool


def task_instance_mutation_hook(task_instance: Any, dag_run: Any = None) -> None:
    if dag_run is None:
        return
    try:
        task_instance.pool = tier_pool(
            task_instance.pool, getattr(dag_run, "conf", None), Settings.from_env()
        )
    except Exception:  # a policy must never stop the scheduler: keep the parsed pool
        log.exception("recast pool policy failed for %s", task_instance)
