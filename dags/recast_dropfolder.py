"""recast_dropfolder: a job file dropped under the drop folder's incoming/ starts a render.

claim (atomic, one render per drop) -> render[job] (triggers recast_render, waits deferred)
-> finish[job] (moves the job to processed/ or failed/ with the reason). The folder and how
often it is looked at are configuration (RECAST_DROP_URI, RECAST_DROP_SCHEDULE).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, get_current_context, task

from recast_airflow import dropfolder
from recast_airflow.config import Settings
from tasks import metrics

SETTINGS = Settings.from_env()

with DAG(
    dag_id="recast_dropfolder",
    description="Render every job file dropped under the S3 drop folder",
    schedule=SETTINGS.drop_schedule,
    catchup=False,
    max_active_runs=8,  # a poll waits for its renders; the next polls go on meanwhile
    tags=["recast"],
    default_args={"retries": 0},  # a claim is taken once: a retry would find it taken
    params={
        "drop_uri": Param(SETTINGS.drop_uri, type="string", title="Drop folder (s3://)"),
    },
) as dag:

    @task
    def claim() -> list[dict[str, Any]]:
        folder = dropfolder.DropFolder(get_current_context()["params"]["drop_uri"])
        claimed = folder.claim_all(SETTINGS.work_uri)
        metrics.push_poll(len(claimed))  # RecastDropFolderNotPolled watches it
        return claimed

    claims = claim()
    render = TriggerDagRunOperator.partial(
        task_id="render",
        trigger_dag_id=dropfolder.RENDER_DAG,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=5,
    ).expand_kwargs(claims.map(dropfolder.trigger_kwargs))

    @task(trigger_rule="all_done")  # a failed render still moves its job (to failed/)
    def finish(job: dict[str, Any]) -> str:
        ctx = get_current_context()
        return dropfolder.finish_render(ctx["ti"], ctx["params"]["drop_uri"], job)

    render >> finish.expand(job=claims)
