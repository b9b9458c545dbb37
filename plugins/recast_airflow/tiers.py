"""GPU tiers: priority, tolerations, node selection and resources per class of pod."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TOLERATION_OPERATORS = {"Exists", "Equal"}
TAINT_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


@dataclass(frozen=True)
class Tier:
    name: str
    priority_class: str
    pool: str
    gpu_resource: str | None
    gpu_count: int
    pool_slots: int = 4  # how many tasks of this tier run at once (the Airflow pool's size)
    description: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)

    def resource_requests(self) -> dict[str, str]:
        extra = {self.gpu_resource: str(self.gpu_count)} if self.gpu_resource else {}
        return {**self.requests, **extra}

    def resource_limits(self) -> dict[str, str]:
        # Extended resources such as GPUs must have limit == request.
        extra = {self.gpu_resource: str(self.gpu_count)} if self.gpu_resource else {}
        return {**self.limits, **extra}


def _tier(name: str, raw: dict[str, Any]) -> Tier:
    gpu = raw.get("gpu") or {}
    for tol in raw.get("tolerations", []):
        if tol.get("operator") not in TOLERATION_OPERATORS:
            raise ValueError(f"tier {name}: toleration operator {tol.get('operator')!r}")
        if tol.get("effect") not in TAINT_EFFECTS:
            raise ValueError(f"tier {name}: toleration effect {tol.get('effect')!r}")
    return Tier(
        name=name,
        priority_class=raw["priority_class"],
        pool=raw["pool"],
        gpu_resource=gpu.get("resource"),
        gpu_count=int(gpu.get("count", 0)),
        pool_slots=int(raw.get("pool_slots", 4)),
        description=str(raw.get("description", "")),
        node_selector={str(k): str(v) for k, v in (raw.get("node_selector") or {}).items()},
        tolerations=[{k: str(v) for k, v in t.items()} for t in raw.get("tolerations", [])],
        requests={str(k): str(v) for k, v in (raw.get("requests") or {}).items()},
        limits={str(k): str(v) for k, v in (raw.get("limits") or {}).items()},
    )


@lru_cache(maxsize=4)
def load_tiers(path: Path) -> dict[str, Tier]:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or "cpu" not in raw:
        raise ValueError(f"{path}: expected a mapping of tiers including 'cpu'")
    return {name: _tier(name, spec) for name, spec in raw.items()}


def gpu_tiers(tiers: dict[str, Tier]) -> dict[str, Tier]:
    """The tiers a render may choose for its units (every tier with a GPU)."""
    return {name: tier for name, tier in tiers.items() if tier.gpu_resource}
