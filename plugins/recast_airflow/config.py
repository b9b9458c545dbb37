"""Deployment settings, read from the environment so no DAG file is edited to change them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Backend = Literal["local", "kubernetes"]


@dataclass(frozen=True)
class Settings:
    backend: Backend
    work_uri: str  # s3://bucket/prefix where runs keep their intermediate media
    image: str  # the worker image every pod runs
    namespace: str
    tiers_file: Path
    models_uri: str | None  # the model store (RECAST_MODELS); None: offline default models
    retries: int = 2  # per task; a spot node reclaimed mid-unit is the usual reason

    @classmethod
    def from_env(cls) -> Settings:
        backend = os.environ.get("RECAST_BACKEND", "local")
        if backend not in ("local", "kubernetes"):
            raise ValueError(f"RECAST_BACKEND={backend!r}: expected 'local' or 'kubernetes'")
        default_tiers = Path(__file__).with_name("tiers.yaml")
        return cls(
            backend=backend,  # type: ignore[arg-type]
            work_uri=os.environ.get("RECAST_WORK_URI", "s3://recast"),
            image=os.environ.get("RECAST_IMAGE", "recast-worker:0.1.0"),
            namespace=os.environ.get("RECAST_NAMESPACE", "recast"),
            tiers_file=Path(os.environ.get("RECAST_TIERS_FILE", default_tiers)),
            models_uri=os.environ.get("RECAST_MODELS") or None,
            retries=int(os.environ.get("RECAST_TASK_RETRIES", "2")),
        )
