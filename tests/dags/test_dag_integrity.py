"""Every DAG file imports cleanly and has the shape the data-flow picture promises."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert dagbag.dag_ids, "no DAG found"


def test_render_dag_has_the_stages_in_order(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["recast_render"]
    expected = [
        "validate",
        "check_faces",
        "probe",
        "detect_shots",
        "plan",
        "split",
        "swap",
        "restore_units",
        "restore",
        "assemble",
        "collect",
        "finalize",
        "publish",
    ]
    assert set(dag.task_ids) == set(expected)
    order = [t.task_id for t in dag.topological_sort()]
    assert [t for t in order if t in expected] == sorted(expected, key=order.index)
    for upstream, downstream in zip(
        ["probe", "detect_shots", "plan", "split", "swap", "restore", "assemble", "collect"],
        ["detect_shots", "plan", "split", "swap", "restore", "assemble", "collect", "finalize"],
        strict=True,
    ):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert "publish" in dag.get_task("finalize").downstream_task_ids


def test_unit_stages_are_mapped(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["recast_render"]
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dag.get_task("swap"), MappedOperator)
    assert isinstance(dag.get_task("restore"), MappedOperator)


def test_every_dag_is_tagged_and_not_catching_up(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag in dagbag.dags.values():
        assert "recast" in dag.tags
        assert dag.catchup is False


def test_render_units_get_their_tier_at_run_time(dagbag) -> None:  # type: ignore[no-untyped-def]
    """swap/restore are expanded with per-unit kwargs (arguments + tier), not fixed ones."""
    dag = dagbag.dags["recast_render"]
    for task_id in ("swap", "restore"):
        mapped = dag.get_task(task_id)
        assert type(mapped.expand_input).__name__ == "ListOfDictsExpandInput"
        assert mapped.pool == "recast_gpu_standard"  # the pool policy moves it per run
    plan = dag.get_task("plan")
    assert "swap" in {t.task_id for t in plan.iter_mapped_dependants()}
    picked = dag.get_task("restore_units")  # the plan's units, or none when nothing is restored
    assert "restore" in {t.task_id for t in picked.iter_mapped_dependants()}
    assert "restore_units" in plan.downstream_task_ids


def test_a_render_without_restoration_runs_on_past_the_skipped_restore(dagbag) -> None:  # type: ignore[no-untyped-def]
    """restore maps over no unit when nothing is restored: it is skipped, and what reads its
    results runs on (a failed upstream still stops them: none_failed)."""
    dag = dagbag.dags["recast_render"]
    for task_id in ("assemble", "collect"):
        assert dag.get_task(task_id).trigger_rule == "none_failed", task_id
    picked = dag.get_task("restore_units").python_callable
    units = [{"run": "s3://w/runs/r", "unit": "u0000-00000000", "tier": "standard"}]
    assert picked(units, True) == units
    assert picked(units, False) == []


def test_render_publishes_an_asset(dagbag) -> None:  # type: ignore[no-untyped-def]
    publish = dagbag.dags["recast_render"].get_task("publish")
    assert [o.name for o in publish.outlets] == ["recast_render_published"]


def test_dropfolder_claims_renders_and_finishes(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["recast_dropfolder"]
    assert set(dag.task_ids) == {"claim", "render", "finish"}
    render, finish = dag.get_task("render"), dag.get_task("finish")
    assert render.partial_kwargs["trigger_dag_id"] == "recast_render"
    assert render.partial_kwargs["wait_for_completion"] is True
    assert render.partial_kwargs["deferrable"] is True
    assert finish.trigger_rule == "all_done"  # a failed render still moves its job
    assert "finish" in render.downstream_task_ids
    assert dag.schedule == "* * * * *"


def test_batch_caps_concurrent_renders(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["recast_batch"]
    assert set(dag.task_ids) == {"read_manifest", "render", "report"}
    render = dag.get_task("render")
    assert render.partial_kwargs["trigger_dag_id"] == "recast_render"
    assert render.max_active_tis_per_dagrun == 2
    assert dag.schedule == "0 2 * * *"
    assert dag.max_active_runs == 1


def test_dags_parse_with_the_kubernetes_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    monkeypatch.setenv("RECAST_BACKEND", "kubernetes")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    render = bag.dags["recast_render"]
    assert isinstance(render.get_task("split"), KubernetesPodOperator)
    assert render.get_task("swap").operator_class is KubernetesPodOperator


def test_dags_parse_quickly(dagbag) -> None:  # type: ignore[no-untyped-def]
    stats = {s.file.rsplit("/", 1)[-1]: s.duration for s in dagbag.dagbag_stats}
    assert set(stats) == {"recast_render.py", "recast_dropfolder.py", "recast_batch.py"}
    # Generous: the scheduler re-parses every 30 s; seconds here would mean heavy imports.
    assert all(d.total_seconds() < 5 for d in stats.values()), stats
