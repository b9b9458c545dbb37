"""Links from a render, in the Airflow UI, to its QC report and its contact sheet.

Global operator extra links: every task of a `recast_render` run shows them, disabled until
the file exists. The URL is a presigned S3 GET (a browser opens it without S3 credentials),
made fresh each time the UI asks, for the published copy when the render was published and
the run's own otherwise. Everything is found from the run id alone (the run prefix and the
spec under it), so no XCom is read.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

from recast_airflow.config import Settings
from tasks import storage
from tasks.layout import RunLayout, delivery_prefix
from tasks.spec import RenderSpec

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

RENDER_DAG = "recast_render"
EXPIRY_ENV = "RECAST_LINK_EXPIRY"  # seconds a link stays valid; the UI makes a new one per view


def render_file(run_id: str, published_name: str, in_run: str, settings: Settings) -> str | None:
    """URI of one of a render's files: published copy first, else the run's; None: not yet."""
    layout = RunLayout.for_run(settings.work_uri, run_id)
    candidates = []
    if storage.exists(layout.spec):
        spec = RenderSpec.parse(storage.read_bytes(layout.spec))
        where = delivery_prefix(settings.work_uri, spec.output_prefix, spec.asset, run_id)
        candidates.append(storage.join(where, published_name))
    candidates.append(getattr(layout, in_run))
    return next((uri for uri in candidates if storage.exists(uri)), None)


def presign(uri: str, content_type: str) -> str:
    bucket, key = storage.split_uri(uri)
    params = {"Bucket": bucket, "Key": key, "ResponseContentType": content_type}
    expiry = int(os.environ.get(EXPIRY_ENV, "3600"))
    url: str = storage.client().generate_presigned_url(
        "get_object", Params=params, ExpiresIn=expiry
    )
    return url


class _RenderFileLink(BaseOperatorLink):
    published_name: ClassVar[str]
    in_run: ClassVar[str]  # the RunLayout property
    content_type: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        if ti_key.dag_id != RENDER_DAG:
            return ""
        try:
            settings = Settings.from_env()
            uri = render_file(ti_key.run_id, self.published_name, self.in_run, settings)
            return presign(uri, self.content_type) if uri and storage.is_s3(uri) else ""
        except Exception:  # a link must never break the task page
            log.exception("no %s link for run %s", self.name, ti_key.run_id)
            return ""


class QcReportLink(_RenderFileLink):
    name = "QC report"
    published_name = "qc.html"
    in_run = "qc_html"
    content_type = "text/html; charset=utf-8"


class ContactSheetLink(_RenderFileLink):
    name = "Contact sheet"
    published_name = "contact_sheet/page-0001.jpg"  # tasks.layout.sheet_page(1)
    in_run = "contact_sheet"
    content_type = "image/jpeg"


LINKS = [QcReportLink(), ContactSheetLink()]
