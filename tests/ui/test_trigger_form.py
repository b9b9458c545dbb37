"""The recast_render form in a real browser: Debian's Chromium driven by Playwright against
`airflow standalone` on loopback (the `recast up` stack). Log in, open recast_render, fill the
form, trigger; the run succeeds with what was typed. Then that render's links, live: Airflow's
REST API gives its tasks the "QC report" and "Contact sheet" extra links, their URLs serve the
published report and sheet over HTTP, and the task's page in the browser shows them. The
screenshots are kept under out/test-artifacts/ui/ (RECAST_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from recast.up import Stack
from tests.browser import chromium

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RECAST_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "ui"
CONSENT = "REL-UI-0001"
FACES = [{"source": "s3://recast/faces/source.png"}]


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1400, "height": 1100},
            permissions=["clipboard-read", "clipboard-write"],  # to paste into the JSON editor
        )
        yield context.new_page()


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _log_in(page: Any, stack: Stack) -> None:
    page.goto(stack.url)
    page.fill("input[name=username]", stack.username)
    page.fill("input[name=password]", stack.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.url}/", timeout=30_000)


def _fill_form(page: Any) -> None:
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=element_consent_reference]").fill(CONSENT)
    dialog.locator("input[name=element_output_prefix]").fill("ui-renders")
    tier = dialog.locator("div:has(> input[name=element_tier])").locator("[role=combobox]")
    tier.click()
    page.keyboard.type("mig")
    page.keyboard.press("Enter")
    # The face mappings are a JSON editor: paste (typing would auto-close the brackets).
    page.evaluate("text => navigator.clipboard.writeText(text)", json.dumps(FACES, indent=2))
    dialog.locator(".monaco-editor").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+V")


def _run_from_the_form(stack: Stack) -> dict[str, Any]:
    runs = [r for r in stack.runs("recast_render") if r["conf"].get("consent_reference") == CONSENT]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def form_run(stack: Stack, page: Any) -> dict[str, Any]:
    """recast_render triggered from its form and rendered: the run, as the REST API lists it."""
    stack.wait_for_dag("recast_render")
    _log_in(page, stack)
    page.goto(f"{stack.url}/dags/recast_render")
    page.get_by_role("button", name="Trigger Dag").click()
    _fill_form(page)
    _shot(page, "01-form-filled.png")
    page.get_by_role("dialog").get_by_role("button", name="Trigger", exact=True).click()

    page.wait_for_timeout(2000)
    run = _run_from_the_form(stack)
    run["state"] = stack.wait_for_run("recast_render", run["dag_run_id"], timeout=420)
    return run


def test_trigger_recast_render_from_its_form(
    stack: Stack, page: Any, form_run: dict[str, Any]
) -> None:
    assert form_run["conf"]["tier"] == "mig" and form_run["conf"]["faces"] == FACES
    assert form_run["conf"]["output_prefix"] == "ui-renders"
    assert form_run["state"] == "success"

    page.goto(f"{stack.url}/dags/recast_render/runs/{quote(form_run['dag_run_id'], safe='')}")
    page.get_by_text("success").first.wait_for(timeout=30_000)
    shot = _shot(page, "02-run-succeeded.png")
    assert shot.stat().st_size > 10_000


def _fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def test_the_render_links_to_its_report_and_contact_sheet(
    stack: Stack, page: Any, form_run: dict[str, Any]
) -> None:
    """GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/links, as the UI asks it."""
    assert form_run["state"] == "success"
    run = quote(form_run["dag_run_id"], safe="")
    links = stack.api(
        "GET", f"/api/v2/dags/recast_render/dagRuns/{run}/taskInstances/publish/links"
    )
    urls = links["extra_links"]
    assert {"QC report", "Contact sheet"} <= set(urls)
    # The published copies, under the output prefix typed in the form (the report through its
    # signed copy, recast_airflow.links).
    assert "/ui-renders/" in urls["Contact sheet"]
    assert "/links/qc-published.html" in urls["QC report"]
    report, kind = _fetch(urls["QC report"])
    assert kind.startswith("text/html")
    assert b"<html" in report.lower() and form_run["dag_run_id"].encode() in report
    sheet, kind = _fetch(urls["Contact sheet"])
    assert kind == "image/jpeg" and sheet.startswith(b"\xff\xd8")  # its first page

    # The task's page in the browser offers the same two links.
    page.goto(f"{stack.url}/dags/recast_render/runs/{run}/tasks/publish/details")
    qc = page.get_by_role("link", name="QC report")
    qc.wait_for(timeout=30_000)
    assert "/links/qc-published.html" in (qc.get_attribute("href") or "")
    assert page.get_by_role("link", name="Contact sheet").count() == 1
    _shot(page, "03-task-links.png")
