"""recast_render: one film in, the same film with chosen faces replaced out.

validate -> probe, check faces -> detect shots -> plan -> split -> swap[unit] -> restore[unit]
-> assemble -> collect -> finalize (QC report, signed film) -> publish. Which backend runs
the stages (local processes or GPU pods) is configuration (RECAST_BACKEND), not this file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from recast_airflow import backends, form, render
from recast_airflow.backends import mapped_stage, stage
from recast_airflow.config import Settings
from tasks.spec import RenderSpec
from tasks.stages import plan as plan_stage
from tasks.stages import publish as publish_stage

SETTINGS = Settings.from_env()
DEFAULT_TIER = RenderSpec.model_fields["tier"].default
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
    params=form.render_params(SETTINGS),
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
    def plan(run: str, tier: str) -> list[dict[str, str]]:
        result = plan_stage.run(run)
        get_current_context()["ti"].xcom_push(key="result", value=result)
        return [{"run": run, "unit": unit_id, "tier": tier} for unit_id in result["units"]]

    units = plan(v["run"], v["tier"])

    @task
    def restore_units(units: list[dict[str, str]], restores: bool) -> list[dict[str, str]]:
        """No face restored: restore maps over no unit (skipped); the swap's output is final."""
        return units if restores else []

    split = stage("split", "cpu", v["split_args"])
    # One task per unit, each on the tier the run chose (pod fields and pool, at run time).
    swap = mapped_stage("swap", DEFAULT_TIER).expand_kwargs(units.map(backends.swap_unit))
    restore = mapped_stage("restore", DEFAULT_TIER).expand_kwargs(
        restore_units(units, v["restores"]).map(backends.restore_unit)
    )
    # A skipped restore (nothing to restore) lets them run; a failed one still stops them.
    assemble = stage("assemble", "cpu", v["assemble_args"], trigger_rule="none_failed")

    @task(trigger_rule="none_failed")
    def collect(run: str, tier: str, results: dict[str, Any]) -> dict[str, Any]:
        """The run's summary; every result handed to the finalize stage through S3."""
        ctx = get_current_context()
        results = render.materialize(results)
        summary = render.report(
            run_id=ctx["run_id"],
            spec_uri=f"{run}/spec.json",
            stage_results={k: v for k, v in results.items() if k not in ("swaps", "restores")},
            swaps=results["swaps"],
            restores=results["restores"],
        )
        render.hand_over(run, summary, results, tier)
        return summary

    summary = collect(
        v["run"],
        v["tier"],
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
    finalize = stage("finalize", "cpu", v["finalize_args"])

    @task(outlets=[PUBLISHED])
    def publish(run: str, destination: str, summary: dict[str, Any]) -> dict[str, Any]:
        ctx = get_current_context()
        published = publish_stage.run(run, destination, summary)
        ctx["outlet_events"][PUBLISHED].extra = {"film": published["film"]}
        return {**summary, **published}

    published = publish(v["run"], v["destination"], summary)

    [probe, check_faces] >> detect_shots >> units >> split >> swap >> restore >> assemble
    assemble >> summary >> finalize >> published
