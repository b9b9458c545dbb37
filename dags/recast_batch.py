"""recast_batch: render every asset listed in a manifest in S3, on a schedule.

read manifest -> render[asset] (triggers recast_render, highest priority first, at most
RECAST_BATCH_MAX_RENDERS at once) -> report (beside the manifest). The manifest and the
schedule are configuration (RECAST_BATCH_MANIFEST, RECAST_BATCH_SCHEDULE).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, get_current_context, task

from recast_airflow import batch
from recast_airflow.config import Settings

SETTINGS = Settings.from_env()

with DAG(
    dag_id="recast_batch",
    description="Render every asset of a manifest, highest priority first",
    schedule=SETTINGS.batch_schedule,
    catchup=False,
    max_active_runs=1,
    tags=["recast"],
    default_args={"retries": 0},  # run IDs are fixed per entry: a retry would find them taken
    params={"manifest": Param(SETTINGS.batch_manifest, type="string", title="Manifest (s3://)")},
) as dag:

    @task
    def read_manifest() -> list[dict[str, Any]]:
        ctx = get_current_context()
        renders, refused = batch.load(ctx["params"]["manifest"], ctx["run_id"], SETTINGS.work_uri)
        ctx["ti"].xcom_push(key="refused", value=refused)
        return renders

    renders = read_manifest()
    render = TriggerDagRunOperator.partial(
        task_id="render",
        trigger_dag_id=batch.RENDER_DAG,
        wait_for_completion=True,
        deferrable=True,  # waiting renders hold no worker slot, but count against the cap
        poke_interval=5,
        max_active_tis_per_dagrun=SETTINGS.batch_max_renders,
    ).expand_kwargs(renders.map(batch.trigger_kwargs))

    @task(trigger_rule="all_done")
    def report(renders: list[dict[str, Any]]) -> dict[str, Any]:
        ctx = get_current_context()
        refused = ctx["ti"].xcom_pull(task_ids="read_manifest", key="refused") or []
        return batch.report(ctx["ti"], ctx["params"]["manifest"], ctx["run_id"], renders, refused)

    render >> report(renders)
