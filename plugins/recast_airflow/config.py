"""Deployment settings, read from the environment so no DAG file is edited to change them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tasks.allowlist import ENV as ALLOW_ENV
from tasks.allowlist import BucketAllowList

Backend = Literal["local", "kubernetes"]


@dataclass(frozen=True)
class Settings:
    backend: Backend
    work_uri: str  # s3://bucket/prefix where runs keep their intermediate media
    image: str  # the worker image every pod runs
    namespace: str
    tiers_file: Path
    models_uri: str | None  # the model store (RECAST_MODELS); None: offline default models
    models_pvc: str | None = None  # a PVC holding the model store, mounted read-only at /models
    retries: int = 2  # per task; a spot node reclaimed mid-unit is the usual reason
    drop_uri: str = ""  # the S3 drop folder: incoming/, processed/, failed/, claims/
    drop_schedule: str | None = "* * * * *"  # how often the drop folder is looked at
    batch_manifest: str = ""  # the manifest recast_batch renders
    batch_schedule: str | None = "0 2 * * *"  # nightly
    batch_max_renders: int = 2  # renders of one batch running at once
    # RECAST_ALLOWED_BUCKETS as given; None: the work, drop-folder and batch buckets only.
    allowed_buckets: str | None = None
    # The Kubernetes Secret holding the C2PA signing identity (chain.pem, key.pem[, anchor.pem]),
    # mounted in the finalize pod only; None: pods sign nothing (films published unsigned).
    c2pa_secret: str | None = "recast-c2pa"
    c2pa_anchor: bool = True  # whether that Secret holds anchor.pem (the CA to verify against)
    pushgateway: str | None = None  # where the stages push their metrics (tasks.metrics)

    def allowlist(self) -> BucketAllowList:
        """The buckets a render may read from and publish to (tasks.allowlist)."""
        defaults = (self.work_uri, self.drop_uri, self.batch_manifest)
        return BucketAllowList.parse(self.allowed_buckets, defaults)

    @classmethod
    def from_env(cls) -> Settings:
        backend = os.environ.get("RECAST_BACKEND", "local")
        if backend not in ("local", "kubernetes"):
            raise ValueError(f"RECAST_BACKEND={backend!r}: expected 'local' or 'kubernetes'")
        default_tiers = Path(__file__).with_name("tiers.yaml")
        work_uri = os.environ.get("RECAST_WORK_URI", "s3://recast").rstrip("/")
        return cls(
            backend=backend,  # type: ignore[arg-type]
            work_uri=work_uri,
            image=os.environ.get("RECAST_IMAGE", "recast-worker:0.1.0"),
            namespace=os.environ.get("RECAST_NAMESPACE", "recast"),
            tiers_file=Path(os.environ.get("RECAST_TIERS_FILE", default_tiers)),
            models_uri=os.environ.get("RECAST_MODELS") or None,
            models_pvc=os.environ.get("RECAST_MODELS_PVC") or None,
            retries=int(os.environ.get("RECAST_TASK_RETRIES", "2")),
            drop_uri=os.environ.get("RECAST_DROP_URI", f"{work_uri}/dropfolder").rstrip("/"),
            drop_schedule=_schedule(os.environ.get("RECAST_DROP_SCHEDULE", "* * * * *")),
            batch_manifest=os.environ.get(
                "RECAST_BATCH_MANIFEST", f"{work_uri}/batch/manifest.yaml"
            ),
            batch_schedule=_schedule(os.environ.get("RECAST_BATCH_SCHEDULE", "0 2 * * *")),
            batch_max_renders=int(os.environ.get("RECAST_BATCH_MAX_RENDERS", "2")),
            allowed_buckets=os.environ.get(ALLOW_ENV) or None,
            c2pa_secret=_name(os.environ.get("RECAST_C2PA_IDENTITY", "recast-c2pa")),
            c2pa_anchor=os.environ.get("RECAST_C2PA_IDENTITY_ANCHOR", "true").lower() != "false",
            pushgateway=os.environ.get("RECAST_PUSHGATEWAY") or None,
        )


def _name(value: str) -> str | None:
    """A resource name; "none" (or empty): no such resource."""
    return None if value.strip().lower() in ("", "none") else value.strip()


def _schedule(value: str) -> str | None:
    """A cron expression or preset; "none" (or empty): only when triggered by hand."""
    return None if value.strip().lower() in ("", "none") else value.strip()
