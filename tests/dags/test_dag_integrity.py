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
        "restore",
        "assemble",
        "publish",
    ]
    assert set(dag.task_ids) == set(expected)
    order = [t.task_id for t in dag.topological_sort()]
    assert [t for t in order if t in expected] == sorted(expected, key=order.index)
    for upstream, downstream in zip(
        ["probe", "detect_shots", "plan", "split", "swap", "restore", "assemble"],
        ["detect_shots", "plan", "split", "swap", "restore", "assemble", "publish"],
        strict=True,
    ):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)


def test_unit_stages_are_mapped(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["recast_render"]
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dag.get_task("swap"), MappedOperator)
    assert isinstance(dag.get_task("restore"), MappedOperator)


def test_every_dag_is_tagged_and_not_catching_up(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag in dagbag.dags.values():
        assert "recast" in dag.tags
        assert dag.catchup is False
