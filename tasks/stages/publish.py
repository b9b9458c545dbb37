"""publish: copy the checked film, its contact sheet and its report to the delivery prefix."""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout


def run(run_prefix: str, destination: str, report: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    # The film goes last: whoever watches for it finds the sheet and report already there.
    sheet = storage.copy(layout.contact_sheet, storage.join(destination, "contact_sheet.png"))
    report_uri = storage.join(destination, "report.json")
    film = storage.join(destination, "film.mp4")
    storage.write_json(report_uri, {**report, "film": film, "contact_sheet": sheet})
    storage.copy(layout.film, film)
    return {
        "stage": "publish",
        "seconds": time.perf_counter() - started,
        "film": film,
        "contact_sheet": sheet,
        "report": report_uri,
    }
