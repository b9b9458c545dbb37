"""Where each stage reads and writes, under one prefix per run: `<work>/runs/<run_id>/...`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from tasks.storage import join

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# The shared unit cache: unset, `<work>/cache` beside `<work>/runs`; `off` disables it.
ENV_CACHE = "RECAST_UNIT_CACHE"
KEYFRAMES = "keyframes.json"


def sheet_page(number: int) -> str:
    """A contact sheet page's name, relative to the run's output (and to its QC page)."""
    return f"contact_sheet/page-{number:04d}.jpg"


def safe_run_id(run_id: str) -> str:
    """Airflow run ids carry ':' and '+'; keys stay portable with [A-Za-z0-9._-] only."""
    cleaned = _UNSAFE.sub("-", run_id).strip("-.")
    if not cleaned:
        raise ValueError(f"run id {run_id!r} has no usable characters")
    return cleaned[:128]


@dataclass(frozen=True)
class RunLayout:
    prefix: str

    @classmethod
    def for_run(cls, work_uri: str, run_id: str) -> RunLayout:
        return cls(join(work_uri, "runs", safe_run_id(run_id)))

    @property
    def spec(self) -> str:
        return join(self.prefix, "spec.json")

    @property
    def probe(self) -> str:
        return join(self.prefix, "probe.json")

    @property
    def shots(self) -> str:
        return join(self.prefix, "shots.json")

    @property
    def census(self) -> str:
        """Faces per shot, counted during shot detection; the plan balances units with them."""
        return join(self.prefix, "census.json")

    @property
    def keyframes(self) -> str:
        """Where units may start for split to copy them (a CleanStarts), written by the probe
        stage beside probe.json when the asset's packets allow copying; the plan snaps to it."""
        return join(self.prefix, KEYFRAMES)

    @property
    def plan(self) -> str:
        return join(self.prefix, "plan.json")

    def unit(self, unit_id: str, name: str) -> str:
        return join(self.prefix, "units", unit_id, name)

    def unit_marker(self, unit_id: str, stage: str) -> str:
        """Written last, once the stage's outputs of this unit are final (tasks.checkpoint)."""
        return self.unit(unit_id, f"{stage}.done.json")

    def unit_attempt(self, unit_id: str, attempt: str) -> str:
        """Where one attempt stages its outputs before they are made final."""
        return join(self.prefix, "units", unit_id, ".attempts", attempt)

    @property
    def cache(self) -> str | None:
        """The unit cache shared by every run of this work prefix, or None (disabled)."""
        configured = os.environ.get(ENV_CACHE, "").strip()
        if configured.lower() == "off":
            return None
        if configured:
            return configured.rstrip("/")
        work, sep, _run = self.prefix.rstrip("/").rpartition("/runs/")
        return join(work, "cache") if sep and work and "/" not in _run else None

    def unit_source(self, unit_id: str) -> str:
        return self.unit(unit_id, "source.mkv")

    def unit_swapped(self, unit_id: str) -> str:
        return self.unit(unit_id, "swapped.mkv")

    def unit_restored(self, unit_id: str) -> str:
        return self.unit(unit_id, "restored.mkv")

    @property
    def film(self) -> str:
        return join(self.prefix, "output", "film.mp4")

    @property
    def contact_sheet(self) -> str:
        """The contact sheet's first page (the sheet is paged: `contact_sheet_page`)."""
        return self.contact_sheet_page(1)

    def contact_sheet_page(self, number: int) -> str:
        return join(self.prefix, "output", sheet_page(number))

    @property
    def master(self) -> str:
        """The `master` delivery (ProRes 422 HQ + PCM in MOV), beside the review film."""
        return join(self.prefix, "output", "master.mov")

    @property
    def timeline(self) -> str:
        """The shot list as an OpenTimelineIO timeline over the film."""
        return join(self.prefix, "output", "timeline.otio")

    @property
    def edl(self) -> str:
        """The shot list (the conform, with the `shots` delivery) as a CMX3600 EDL."""
        return join(self.prefix, "output", "conform.edl")

    @property
    def shot_clips(self) -> str:
        """The `shots` delivery's manifest: every clip (tasks.media.plates.ShotClip) and file."""
        return join(self.prefix, "output", "shots.json")

    def shot_file(self, relative: str) -> str:
        """A file of the `shots` delivery, by its path under the delivery (`shots/...`)."""
        return join(self.prefix, "output", relative)

    @property
    def results(self) -> str:
        """Every stage's result, handed from XCom to the finalize stage."""
        return join(self.prefix, "results.json")

    @property
    def delivery(self) -> str:
        """The assembled film with its C2PA manifest: what gets published."""
        return join(self.prefix, "output", "delivery.mp4")

    @property
    def provenance(self) -> str:
        return join(self.prefix, "output", "provenance.json")

    @property
    def qc_json(self) -> str:
        return join(self.prefix, "output", "qc.json")

    @property
    def qc_html(self) -> str:
        return join(self.prefix, "output", "qc.html")


def delivery_prefix(work_uri: str, output_prefix: str, asset: str, run_id: str) -> str:
    """Where a render is published: `s3://<work bucket>/<output_prefix>/<asset stem>/<run>`."""
    bucket = work_uri[5:].split("/", 1)[0] if work_uri.startswith("s3://") else ""
    if not bucket:
        raise ValueError(f"work URI {work_uri!r} must be s3://BUCKET[/prefix]")
    stem = asset.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "asset"
    return f"s3://{bucket}/{output_prefix.strip('/')}/{safe_run_id(stem)}/{safe_run_id(run_id)}"
