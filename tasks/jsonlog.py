"""Stage logs as one JSON object per line, each with the run, unit, stage and tier, so that a
log store (Loki, or any other) selects one unit's lines by field:

    {app="recast-worker"} | json | run="manual__2026-05-01T10-00-00-00-00" and unit="u0003"

RECAST_LOG_FORMAT=text gives the plain lines instead (a person at a terminal).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

ENV_FORMAT = "RECAST_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER = "recast-stage"


class JsonFormatter(logging.Formatter):
    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self.fields,
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Whatever sys.stderr is when a line is written (a test may swap it between calls)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(fields: dict[str, Any]) -> None:
    """The root logger, on stderr: JSON lines with `fields`, unless RECAST_LOG_FORMAT=text."""
    handler = _Stderr()
    if os.environ.get(ENV_FORMAT, "json") == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        handler.setFormatter(JsonFormatter(fields))
    handler.set_name(HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:  # a second main() call
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(os.environ.get("RECAST_LOG_LEVEL", "INFO"))
    logging.captureWarnings(True)  # warnings.warn lines too, as JSON
