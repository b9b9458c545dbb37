"""recast_render: one film in, the same film with chosen faces replaced out.

validate -> probe, check faces -> detect shots -> plan -> split -> swap[unit] -> restore[unit]
-> assemble -> publish. Which backend runs the stages (local processes or GPU pods) is
configuration (RECAST_BACKEND), not this file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, get_current_context, task

from recast_airflow import commands, render
from recast_airflow.backends import mapped_stage, stage
from recast_airflow.config import Settings
from tasks.spec import DEFAULT_MAX_UNITS, RESTORE_MODES
from tasks.stages import plan as plan_stage
from tasks.stages import publish as publish_stage

SETTINGS = Settings.from_env()
PUBLISHED = Asset(name="recast_render_published", uri=f"{SETTINGS.work_uri.rstrip('/')}/renders")

with DAG(
    dag_id="recast_render",
    description="Replace chosen faces in a film, shot by shot, and publish it to S3",
    schedule=None,
    catchup=False,
    max_active_runs=4,
    tags=["recast"],
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={
        "asset": Param(
            "s3://recast/inputs/demo.mp4",
            type="string",
            title="Asset",
            description="s3:// URI of the film to render",
        ),
        "faces": Param(
            [{"source": "s3://recast/faces/source.png"}],
            type="array",
            title="Face mappings",
            description="[{source: face to put in, reference: person to replace (optional)}]",
        ),
        "restore": Param("none", enum=list(RESTORE_MODES), title="Face restoration"),
        "tier": Param("standard", type="string", title="Priority tier"),
        "max_units": Param(
            DEFAULT_MAX_UNITS, type="integer", minimum=1, maximum=1000, title="Max work units"
        ),
        "unit_frames": Param(
            480,
            type="integer",
            minimum=1,
            title="Unit length (frames)",
            description="Longest work unit before a shot is cut into chunks",
        ),
        "output_prefix": Param("renders", type="string", title="Output prefix"),
    },
) as dag:

    @task(multiple_outputs=True, retries=0)
    def validate() -> dict[str, Any]:
        ctx = get_current_context()
        return render.validate(dict(ctx["params"]), ctx["run_id"], SETTINGS)

    v = validate()
    check_faces = stage("check_faces", "cpu", v["check_faces_args"])
    probe = stage("probe", "cpu", v["probe_args"])
    detect_shots = stage("detect_shots", "cpu", v["shots_args"])

    @task
    def plan(run: str) -> list[dict[str, str]]:
        result = plan_stage.run(run)
        get_current_context()["ti"].xcom_push(key="result", value=result)
        return [{"run": run, "unit": unit_id} for unit_id in result["units"]]

    units = plan(v["run"])
    split = stage("split", "cpu", v["split_args"])
    swap = mapped_stage("swap", "standard").expand(arguments=units.map(commands.swap_unit))
    restore = mapped_stage("restore", "standard").expand(arguments=units.map(commands.restore_unit))
    assemble = stage("assemble", "cpu", v["assemble_args"])

    @task(outlets=[PUBLISHED])
    def publish(run: str, destination: str, results: dict[str, Any]) -> dict[str, Any]:
        ctx = get_current_context()
        summary = render.report(
            run_id=ctx["run_id"],
            spec_uri=f"{run}/spec.json",
            stage_results={k: v for k, v in results.items() if k not in ("swaps", "restores")},
            swaps=list(results["swaps"]),
            restores=list(results["restores"]),
        )
        published = publish_stage.run(run, destination, summary)
        ctx["outlet_events"][PUBLISHED].extra = {"film": published["film"]}
        return {**summary, **published}

    published = publish(
        v["run"],
        v["destination"],
        {
            "probe": probe.output,
            "check_faces": check_faces.output,
            "detect_shots": detect_shots.output,
            "plan": units["result"],
            "split": split.output,
            "swaps": swap.output,
            "restores": restore.output,
            "assemble": assemble.output,
        },
    )

    [probe, check_faces] >> detect_shots >> units >> split >> swap >> restore >> assemble
