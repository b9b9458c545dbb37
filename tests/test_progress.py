from __future__ import annotations

import logging

import pytest

from tasks.progress import Progress


def test_progress_reports_frames_total_and_rate(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("recast.test.progress")
    progress = Progress(log, "swap u0001-00000000", total=20, every=3600)
    with caplog.at_level(logging.INFO, logger=log.name):
        progress.advance(8)  # too soon for a line
        progress.advance(12)  # the last frames always report
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("swap u0001-00000000: 20/20 frames (100%), ")
    assert lines[0].endswith(" fps")
