"""publish: copy the checked, signed film and everything that documents it to the delivery prefix.

Only what finalize produced is published: the signed delivery film, its QC report (HTML and
JSON), its provenance sidecar, the contact sheet's pages, the shots' thumbnails where the QC
page links them as files, and the editorial files assemble made. The
master goes out signed when finalize signed it, as it was otherwise (provenance.json says which).
One prefix per render: `film.mp4`, `master.mov`, `shots/...` (the `shots` delivery, as listed in
`shots.json`), `timeline.otio`, `conform.edl`: the timeline's relative paths resolve there.
"""

from __future__ import annotations

import time
from typing import Any

from tasks import storage
from tasks.layout import RunLayout, sheet_page
from tasks.qc import thumbs


def signed_master(run_prefix: str) -> str:
    """Where finalize puts the signed master; published in place of the unsigned one."""
    return storage.join(run_prefix, "output", "master.signed.mov")


def sheet_page_count(layout: RunLayout) -> int:
    """How many contact sheet pages assemble wrote."""
    count = 0
    while storage.exists(layout.contact_sheet_page(count + 1)):
        count += 1
    return count


def _pages_and_thumbs(layout: RunLayout) -> list[tuple[str, str]]:
    """(source, name when published) of the contact sheet's later pages, and of the shots'
    thumbnails where the QC page links them as files, so its relative links still hold."""
    files = [
        (layout.contact_sheet_page(n), sheet_page(n))
        for n in range(2, sheet_page_count(layout) + 1)
    ]
    qc = storage.read_json_if_any(layout.qc_json) or {}
    if qc.get("thumbnails") == "files":
        for row in qc["per_shot"]:
            for side in ("before", "after"):
                files.append((thumbs.key(layout.prefix, row["shot"], side),
                              thumbs.relative(row["shot"], side)))  # fmt: skip
    return files


def _extras(layout: RunLayout) -> dict[str, tuple[tuple[str, ...], str]]:
    """name -> (sources in the run, the first there wins; file name when published); optional
    ones may be absent."""
    return {
        "contact_sheet": ((layout.contact_sheet,), sheet_page(1)),
        "qc_report": ((layout.qc_html,), "qc.html"),
        "qc": ((layout.qc_json,), "qc.json"),
        "provenance": ((layout.provenance,), "provenance.json"),
        "timeline": ((layout.timeline,), "timeline.otio"),
        "edl": ((layout.edl,), "conform.edl"),
        "shot_clips": ((layout.shot_clips,), "shots.json"),
        "master": ((signed_master(layout.prefix), layout.master), "master.mov"),
    }


def run(run_prefix: str, destination: str, report: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    if not storage.exists(layout.delivery):
        raise RuntimeError(f"nothing to publish: {layout.delivery} is missing (finalize not run)")
    files: dict[str, str] = {}
    for name, (sources, target) in _extras(layout).items():
        # Each a copy that may find nothing: one request, not a HEAD and then a copy.
        copied = (storage.copy_if_any(s, storage.join(destination, target)) for s in sources)
        found = next((uri for uri in copied if uri is not None), None)
        if found is not None:
            files[name] = found
    if "shot_clips" in files:
        for relative in storage.read_json(layout.shot_clips)["files"]:
            storage.copy(layout.shot_file(relative), storage.join(destination, relative))
        files["shots"] = storage.join(destination, "shots")
    for source, target in _pages_and_thumbs(layout):
        storage.copy(source, storage.join(destination, target))
    report_uri = storage.join(destination, "report.json")
    film = storage.join(destination, "film.mp4")
    storage.write_json(report_uri, {**report, "film": film, **files})
    # The film goes last: whoever watches for it finds everything else already there.
    storage.copy(layout.delivery, film)
    return {
        "stage": "publish",
        "seconds": time.perf_counter() - started,
        "film": film,
        "report": report_uri,
        **files,
    }
