"""The UI's links from a render to its QC report and contact sheet: the plugin registers them,
the serialized render DAG (what the API server reads) offers them on its tasks, and the URL
they give opens the report over HTTP from the S3 server."""

from __future__ import annotations

import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest

from tasks import storage
from tasks.layout import RunLayout, delivery_prefix

RUN_ID = "manual__2026-11-26T10:00:00+00:00"
PAGE = b"<!doctype html><title>Recast QC</title><h1>report</h1>"


@pytest.fixture
def work(bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"s3://{bucket}/work"
    monkeypatch.setenv("RECAST_WORK_URI", uri)
    layout = RunLayout.for_run(uri, RUN_ID)
    storage.write_json(
        layout.spec,
        {"asset": f"s3://{bucket}/in/reel.mp4", "faces": [{"source": f"s3://{bucket}/f.png"}]},
    )
    return uri


@pytest.fixture(scope="module")
def publish_task() -> Any:
    """The render DAG's publish task as the API server sees it: serialized, then read back."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from tests.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["recast_render"]
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("publish")


def _ti(dag_id: str = "recast_render") -> Any:
    from airflow.models.taskinstancekey import TaskInstanceKey

    return SimpleNamespace(key=TaskInstanceKey(dag_id, "publish", RUN_ID, 1, -1))


def _fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def test_the_plugin_manager_loads_the_links() -> None:
    from airflow import plugins_manager

    names = {link.name for link in plugins_manager.get_global_operator_extra_links()}
    assert {"QC report", "Contact sheet"} <= names


def test_the_report_link_opens_the_run_report_then_the_published_one(
    work: str, publish_task: Any
) -> None:
    assert {"QC report", "Contact sheet"} <= set(publish_task.extra_links)
    assert publish_task.get_extra_links(_ti(), "QC report") == ""  # nothing written yet

    layout = RunLayout.for_run(work, RUN_ID)
    storage.write_bytes(layout.qc_html, PAGE)  # what finalize writes (content type aside)
    body, kind = _fetch(publish_task.get_extra_links(_ti(), "QC report"))
    assert body == PAGE and kind.startswith("text/html")

    bucket = work[5:].split("/")[0]
    published = delivery_prefix(work, "renders", f"s3://{bucket}/in/reel.mp4", RUN_ID)
    storage.write_bytes(storage.join(published, "qc.html"), PAGE + b"<p>published</p>")
    url = publish_task.get_extra_links(_ti(), "QC report")
    assert "/renders/" in url and _fetch(url)[0].endswith(b"<p>published</p>")


def test_the_contact_sheet_link_opens_its_first_page(work: str, publish_task: Any) -> None:
    jpeg = b"\xff\xd8\xff\xe0fake"
    storage.write_bytes(RunLayout.for_run(work, RUN_ID).contact_sheet, jpeg)
    body, kind = _fetch(publish_task.get_extra_links(_ti(), "Contact sheet"))
    assert body == jpeg and kind == "image/jpeg"


def test_other_dags_get_no_link(work: str, publish_task: Any) -> None:
    storage.write_bytes(RunLayout.for_run(work, RUN_ID).qc_html, PAGE)
    assert publish_task.get_extra_links(_ti("recast_batch"), "QC report") == ""
