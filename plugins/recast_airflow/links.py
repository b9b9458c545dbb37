"""Links from a render, in the Airflow UI, to its QC report and its contact sheet.

Global operator extra links: every task of a `recast_render` run shows them, disabled until
the file exists. The URL is a presigned S3 GET (a browser opens it without S3 credentials),
made fresh each time the UI asks, for the published copy when the render was published and
the run's own otherwise. Everything is found from the run id alone (the run prefix and the
spec under it), so no XCom is read.

A presigned URL opens one object: the QC page's thumbnails and contact sheet pages, named
relative to it, would be refused. So the report link opens a signed copy of the page (under
the run's `links/`): sheet links presigned in place, and each thumbnail's signature in a table
that a few lines of script turn into its URL, so the images still load lazily and a
3,000-shot page stays near its own size (one full URL per thumbnail would double it). The copy
is made again when the page changes or half the links' lifetime has passed.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink
from botocore.exceptions import ClientError

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


def _expiry() -> int:
    return int(os.environ.get(EXPIRY_ENV, "3600"))


def presign(uri: str, content_type: str | None = None) -> str:
    bucket, key = storage.split_uri(uri)
    params = {"Bucket": bucket, "Key": key}
    if content_type:
        params["ResponseContentType"] = content_type
    url: str = storage.client().generate_presigned_url(
        "get_object", Params=params, ExpiresIn=_expiry()
    )
    return url


# What the QC page names relative to itself (tasks/qc/report.py): thumbnails, sheet pages.
_THUMB_SRC = re.compile(r' src="(thumbs/[^"]+)"')
_SHEET_HREF = re.compile(r' href="(contact_sheet/[^"]+)"')
_SIGNATURES = ("X-Amz-Signature", "Signature")  # SigV4, SigV2 query strings
# Sets each marked thumbnail's src from the table: loading=lazy still defers the fetch.
_SIGNED_SCRIPT = """<script>
const s3 = JSON.parse(document.getElementById("s3-signed").textContent);
for (const img of document.querySelectorAll("img[data-s3]")) {
  const [query, signature] = s3.files[img.dataset.s3];
  img.src = s3.base + img.dataset.s3 + "?" + s3.queries[query] + "&" + signature;
}
</script>
"""


def _split_signed(url: str, relative: str) -> tuple[str, str, str]:
    """A presigned URL as (folder URL, query without its signature, signature parameter)."""
    address, query = url.split("?", 1)
    if not address.endswith("/" + relative):
        raise ValueError(f"unexpected presigned URL for {relative}: {address}")
    params = query.split("&")
    signature = next(p for p in params if p.split("=", 1)[0] in _SIGNATURES)
    params.remove(signature)
    return address[: -len(relative)], "&".join(params), signature


def sign_page(page: str, folder: str) -> str:
    """The QC page at `folder` with every file it names relative to itself presigned."""
    page = _SHEET_HREF.sub(
        lambda m: f' href="{html.escape(presign(storage.join(folder, m[1])))}"', page
    )
    names = sorted(set(_THUMB_SRC.findall(page)))
    if not names:
        return page
    base, queries, files = "", dict[str, int](), dict[str, list[int | str]]()
    for name in names:
        base, query, signature = _split_signed(presign(storage.join(folder, name)), name)
        files[name] = [queries.setdefault(query, len(queries)), signature]
    table = json.dumps({"base": base, "queries": list(queries), "files": files})
    table = table.replace("</", "<\\/")  # nothing in it may close the script element
    script = f'<script type="application/json" id="s3-signed">{table}</script>\n{_SIGNED_SCRIPT}'

    page = _THUMB_SRC.sub(r' data-s3="\1"', page)
    return page.replace("</body>", script + "</body>", 1)


def signed_report(page_uri: str, run_prefix: str) -> str:
    """URI of the signed copy of the QC page at `page_uri`, made (again) when needed."""
    bucket, key = storage.split_uri(page_uri)
    page_etag = storage.client().head_object(Bucket=bucket, Key=key)["ETag"]
    which = "published" if not page_uri.startswith(run_prefix) else "run"
    copy = storage.join(run_prefix, "links", f"qc-{which}.html")
    copy_bucket, copy_key = storage.split_uri(copy)
    try:
        meta = storage.client().head_object(Bucket=copy_bucket, Key=copy_key)["Metadata"]
    except ClientError:  # not made yet
        meta = {}
    fresh = time.time() - float(meta.get("signed-at", 0)) < _expiry() / 2
    if meta.get("page-etag") == page_etag and fresh:
        return copy
    folder = page_uri.rsplit("/", 1)[0]
    signed = sign_page(storage.read_bytes(page_uri).decode(), folder)
    storage.client().put_object(
        Bucket=copy_bucket, Key=copy_key, Body=signed.encode(),
        ContentType="text/html; charset=utf-8",
        Metadata={"page-etag": page_etag, "signed-at": f"{time.time():.0f}"},
    )  # fmt: skip
    return copy


class _RenderFileLink(BaseOperatorLink):
    published_name: ClassVar[str]
    in_run: ClassVar[str]  # the RunLayout property
    content_type: ClassVar[str]
    signs_page: ClassVar[bool] = False  # an HTML page naming files beside it

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        if ti_key.dag_id != RENDER_DAG:
            return ""
        try:
            settings = Settings.from_env()
            uri = render_file(ti_key.run_id, self.published_name, self.in_run, settings)
            if not uri or not storage.is_s3(uri):
                return ""
            if self.signs_page:
                uri = signed_report(uri, RunLayout.for_run(settings.work_uri, ti_key.run_id).prefix)
            return presign(uri, self.content_type)
        except Exception:  # a link must never break the task page
            log.exception("no %s link for run %s", self.name, ti_key.run_id)
            return ""


class QcReportLink(_RenderFileLink):
    name = "QC report"
    published_name = "qc.html"
    in_run = "qc_html"
    content_type = "text/html; charset=utf-8"
    signs_page = True


class ContactSheetLink(_RenderFileLink):
    name = "Contact sheet"
    published_name = "contact_sheet/page-0001.jpg"  # tasks.layout.sheet_page(1)
    in_run = "contact_sheet"
    content_type = "image/jpeg"


LINKS = [QcReportLink(), ContactSheetLink()]
