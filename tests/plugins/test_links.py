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
    assert "/qc-published.html" in url and _fetch(url)[0].endswith(b"<p>published</p>")


def test_the_contact_sheet_link_opens_its_first_page(work: str, publish_task: Any) -> None:
    jpeg = b"\xff\xd8\xff\xe0fake"
    storage.write_bytes(RunLayout.for_run(work, RUN_ID).contact_sheet, jpeg)
    body, kind = _fetch(publish_task.get_extra_links(_ti(), "Contact sheet"))
    assert body == jpeg and kind == "image/jpeg"


def test_other_dags_get_no_link(work: str, publish_task: Any) -> None:
    storage.write_bytes(RunLayout.for_run(work, RUN_ID).qc_html, PAGE)
    assert publish_task.get_extra_links(_ti("recast_batch"), "QC report") == ""


def _feature_page(work: str, shots: int) -> tuple[RunLayout, dict[int, bytes]]:
    """A QC page of `shots` shots as finalize writes one for a long film (thumbnails as files
    beside it, loaded lazily), with its thumbnails and one contact sheet page, in the run."""
    from tasks.qc import report, thumbs
    from tasks.shots.plan import plan_units
    from tests.qc.test_feature_scale import _feature, _swaps, _thumbnail

    cut = _feature(shots)
    summary = report.build(
        run_id=RUN_ID, asset="s3://in/reel.mp4", shots=cut, swaps=_swaps(plan_units(cut)),
        stage_seconds={}, unit_tiers={}, consent_references=[], frames=cut.frame_count,
    )  # fmt: skip
    page = report.to_html(
        summary, thumb_href=thumbs.relative, sheet_pages=["contact_sheet/page-0001.jpg"]
    )
    layout = RunLayout.for_run(work, RUN_ID)
    storage.write_bytes(layout.qc_html, page.encode(), "text/html; charset=utf-8")
    storage.write_bytes(layout.contact_sheet, b"\xff\xd8\xff\xe0sheet")
    pictures = {shot: thumbs.jpeg(_thumbnail(shot), width=160) for shot in range(shots)}
    for shot, picture in pictures.items():
        for side in ("before", "after"):
            storage.write_bytes(thumbs.key(layout.prefix, shot, side), picture)
    return layout, pictures


def test_the_report_link_opens_every_thumbnail_and_sheet_page(work: str, publish_task: Any) -> None:
    """A presigned page cannot open what it names relative to itself (the S3 server refuses
    an unsigned GET): the link's copy of the page carries a signature for each file."""
    import json
    import re
    import urllib.error

    layout, pictures = _feature_page(work, 120)
    url = publish_task.get_extra_links(_ti(), "QC report")
    page = _fetch(url)[0].decode()
    assert ' src="thumbs/' not in page and page.count("data-s3=") == 2 * 120
    table = json.loads(re.search(r'id="s3-signed">(.*?)</script>', page)[1])  # type: ignore[index]
    for shot in (0, 49, 119):  # inline up to 48 shots: past that, files
        name = f"thumbs/{shot}_after.jpg"
        query, signature = table["files"][name]
        signed = f"{table['base']}{name}?{table['queries'][query]}&{signature}"
        assert _fetch(signed)[0] == pictures[shot]
    with pytest.raises(urllib.error.HTTPError, match="403"):
        _fetch(table["base"] + "thumbs/49_after.jpg")  # what the page named before
    sheet = re.search(r'href="([^"]*contact_sheet/page-0001[^"]*)"', page)[1]  # type: ignore[index]
    assert _fetch(sheet.replace("&amp;", "&"))[0] == b"\xff\xd8\xff\xe0sheet"

    copy = storage.join(layout.prefix, "links", "qc-run.html")
    made = storage.stat(copy)
    publish_task.get_extra_links(_ti(), "QC report")
    assert storage.stat(copy) == made  # fresh: not signed again on every view
    storage.write_bytes(layout.qc_html, page.replace("Recast render", "Recast rerender").encode())
    assert b"Recast rerender" in _fetch(publish_task.get_extra_links(_ti(), "QC report"))[0]


def test_the_linked_report_loads_its_thumbnails_in_chromium(work: str, publish_task: Any) -> None:
    """Through the link, in a browser: rows past the inline limit load their thumbnails (signed
    URLs), lazily."""
    from tests.browser import chromium

    _feature_page(work, 300)
    url = publish_task.get_extra_links(_ti(), "QC report")
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        answers: list[int] = []
        tab.on("response", lambda r: answers.append(r.status) if "/thumbs/" in r.url else None)
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(url, wait_until="load")
        tab.wait_for_function("document.querySelector('#shot-0 img').naturalWidth > 0")
        assert not errors and 0 < len(answers) < 200  # lazily: only the rows in view
        tab.fill("#goto", "290")
        tab.press("#goto", "Enter")
        tab.wait_for_function("document.querySelector('#shot-290 img').complete")
        loaded = tab.evaluate("document.querySelector('#shot-290 img').naturalWidth")
    assert loaded == 160 and set(answers) == {200}
