"""A feature's worth of shots (3,000), planned and reported without decoding any video: the plan
and the report stay within memory, the QC page under 2 MB, the contact sheet in pages of a few
MB; in Chromium the page loads only the thumbnails in view, and its index and filters work.
The browser's screenshots are kept under out/test-artifacts/qc/ (RECAST_TEST_ARTIFACTS moves
them)."""

from __future__ import annotations

import os
import random
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tasks.media.contact_sheet import PER_PAGE, contact_sheets, middle_frame
from tasks.qc import report, thumbs
from tasks.shots.plan import plan_units
from tasks.spec import Shot, ShotList
from tests.browser import chromium

SHOTS = 3_000
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RECAST_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "qc"


def _feature(shots: int = SHOTS) -> ShotList:
    """A 2-hour cut at 24 fps: shots of 1 to 10 seconds, seeded."""
    rng, start, found = random.Random(18), 0, []
    for index in range(shots):
        length = rng.randint(24, 240)
        found.append(Shot(index=index, start_frame=start, end_frame=start + length))
        start += length
    return ShotList(fps="24", frame_count=start, shots=found)


def _swaps(plan: Any) -> list[dict[str, Any]]:
    """What the swap stage reports per unit: every shot has two replaced faces but every
    tenth, which has none at all (a warning)."""
    per_unit = []
    for unit in plan.units:
        rows = []
        for shot in unit.shots:
            faces = 0 if shot % 10 == 0 else 2
            rows.append({"shot": shot, "faces_found": faces, "faces_swapped": faces})
        per_unit.append({"seconds": 1.0, "per_shot": rows})
    return per_unit


@pytest.fixture(scope="module")
def built() -> tuple[ShotList, dict[str, Any], str, int]:
    """The plan, the report and its page for 3,000 shots, with the peak memory they took."""
    tracemalloc.start()
    try:
        shots = _feature()
        plan = plan_units(shots, seed="feature")
        summary = report.build(
            run_id="feature", asset="s3://in/feature.mov", shots=shots, swaps=_swaps(plan),
            stage_seconds={"assemble": 1.0}, unit_tiers={}, consent_references=["REL-1"],
            frames=shots.frame_count,
        )  # fmt: skip
        pages = [f"contact_sheet/page-{n:04d}.jpg" for n in range(1, SHOTS // PER_PAGE + 1)]
        page = report.to_html(summary, thumb_href=thumbs.relative, sheet_pages=pages)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return shots, summary, page, peak


def test_plan_and_report_for_3000_shots(built: tuple[ShotList, dict[str, Any], str, int]) -> None:
    shots, summary, page, peak = built
    assert summary["shots"] == SHOTS and summary["units"] <= 256  # under Airflow's map limit
    assert summary["frames"] == shots.frame_count
    assert len(summary["warnings"]) == SHOTS // 10
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert len(page.encode()) < 2 * 2**20, f"{len(page.encode()) / 2**20:.2f} MiB of HTML"
    assert "data:image" not in page
    assert page.count("<img loading=lazy") == 2 * SHOTS
    assert page.count('<a href="#shot-') == SHOTS


def _thumbnail(shot: int) -> np.ndarray:
    """A frame that says which shot it is, by colour and by its number."""
    import cv2

    frame = np.full((90, 160, 3), (shot * 37 % 256, shot * 91 % 256, 128), np.uint8)
    cv2.putText(frame, str(shot), (8, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 2)
    return frame


def test_contact_sheet_pages(tmp_path: Path) -> None:
    shots = _feature(200)
    frame = _thumbnail(7)
    pairs = {s.index: (middle_frame(s.start_frame, s.end_frame), frame, frame) for s in shots.shots}
    pages = contact_sheets(Path("-"), Path("-"), shots, tmp_path, pairs=pairs)
    assert len(pages) == -(-200 // PER_PAGE)
    assert all(p.suffix == ".jpg" and p.stat().st_size < 3 * 2**20 for p in pages)


def test_qc_page_in_chromium(
    built: tuple[ShotList, dict[str, Any], str, int], tmp_path: Path
) -> None:
    shots, _, page, _ = built
    (tmp_path / "thumbs").mkdir()
    pictures = [thumbs.jpeg(_thumbnail(shot), width=160) for shot in range(10)]
    for shot in range(SHOTS):
        picture = pictures[shot % 10]  # which file the browser loads is what counts
        for side in ("before", "after"):
            (tmp_path / thumbs.relative(shot, side)).write_bytes(picture)
    html = tmp_path / "qc.html"
    html.write_text(page, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        asked: list[str] = []
        tab.on("request", lambda r: asked.append(r.url) if "/thumbs/" in r.url else None)
        tab.goto(html.as_uri(), wait_until="load")
        first = len(asked)
        # Only the rows near the viewport: lazily, not 6,000 images at once.
        assert 0 < first < 200, f"{first} thumbnails requested on load"
        tab.screenshot(path=str(ARTIFACTS / "qc-page-top.png"))

        tab.fill("#goto", "2500")
        tab.press("#goto", "Enter")
        tab.wait_for_function("document.querySelector('#shot-2500 img').complete")
        assert any(u.endswith("/thumbs/2500_after.jpg") for u in asked)
        assert len(asked) < first + 400
        tab.screenshot(path=str(ARTIFACTS / "qc-page-shot-2500.png"))

        tab.evaluate("window.scrollTo(0, 0)")
        tab.locator("input[data-only=w]").set_checked(True)
        shown = tab.evaluate(
            "[...document.querySelectorAll('#shots tr[id]')].filter(r => r.offsetParent)"
            ".map(r => +r.id.slice(5))"
        )
        assert shown == [s.index for s in shots.shots if s.index % 10 == 0]
        tab.screenshot(path=str(ARTIFACTS / "qc-page-warnings.png"))
    assert (ARTIFACTS / "qc-page-warnings.png").stat().st_size > 10_000
