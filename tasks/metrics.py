"""A stage's figures for Prometheus, pushed to a Pushgateway when the stage ends.

A stage pod lives for one unit and is gone before any scrape, so it pushes (the pattern
Prometheus documents for batch jobs) to $RECAST_PUSHGATEWAY, once, on success and on failure.
Unset: nothing is pushed. A gateway that is down costs a warning line, never the stage.

Cardinality is bounded in three places:
- the metrics' own labels are small closed sets: dag, stage, tier, outcome, model;
- the run, unit and attempt go on the push's *grouping key* only (one group per unit attempt,
  a few dozen series each), so a render's groups can be found and deleted as a whole;
- groups older than $RECAST_PUSHGATEWAY_KEEP seconds (default one day) are deleted by the next
  push, so the gateway, and Prometheus' live series with it, hold about a day of renders.
Every figure is a gauge holding what one unit attempt did (the Pushgateway cannot add up
counters from many pods); `recast_stage_end_timestamp_seconds` dates it, so a dashboard sums
the units that ended in a window (`... and recast_stage_end_timestamp_seconds > time() - 3600`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks import storage

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

ENV_GATEWAY = "RECAST_PUSHGATEWAY"
ENV_KEEP = "RECAST_PUSHGATEWAY_KEEP"
JOB = "recast_stage"
LABELS = ("dag", "stage", "tier", "outcome", "model")
OUTCOMES = ("ok", "failed", "refused")
PUSH_TIMEOUT = 3.0  # seconds: a slow gateway must not hold a finished pod

log = logging.getLogger(__name__)

# name -> help; every one a gauge with LABELS.
FIGURES = {
    "frames": "frames the stage decoded or wrote",
    "faces_found": "faces detected in the unit's frames",
    "faces_swapped": "faces replaced",
    "faces_restored": "faces restored",
    "frames_per_second": "frames / wall seconds",
    "wall_seconds": "wall seconds of the stage process",
    "gpu_seconds": "wall seconds x GPUs the tier reserves (what the unit cost, not utilisation)",
    "units": "work units the stage handled",
    "reused_units": "units reused from a done marker or the unit cache (no engine work)",
    "bytes_read": "bytes read from storage",
    "bytes_written": "bytes written to storage",
    "retries": "attempt number - 1 (Airflow's try_number)",
    "end_timestamp_seconds": "Unix time the stage ended",
}


@dataclass(frozen=True)
class StageContext:
    """Who is speaking: the fields of every log line and the labels of every series."""

    stage: str
    run: str = "none"
    unit: str = "all"
    dag: str = "none"
    tier: str = "none"
    attempt: int = 1
    gpus: float = 0.0

    @classmethod
    def from_env(cls, stage: str, run_prefix: str | None, unit: str | None) -> StageContext:
        """The backends set RECAST_DAG, RECAST_TIER, RECAST_TRY and RECAST_GPUS (a pod from its
        own labels through the Downward API); the run comes from the stage's run prefix."""
        env = os.environ
        return cls(
            stage=stage,
            run=run_of(run_prefix) or "none",
            unit=unit or "all",
            dag=env.get("RECAST_DAG") or "none",
            tier=env.get("RECAST_TIER") or "none",
            attempt=_number(env.get("RECAST_TRY"), 1),
            gpus=float(_number(env.get("RECAST_GPUS"), 0)),
        )

    def fields(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "unit": self.unit,
            "stage": self.stage,
            "tier": self.tier,
            "dag": self.dag,
            "attempt": self.attempt,
        }

    def grouping(self) -> dict[str, str]:
        return {
            "run": self.run,
            "unit": self.unit,
            "stage": self.stage,
            "attempt": str(self.attempt),
        }


def _number(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def run_of(prefix: str | None) -> str | None:
    """`<work>/runs/<run>/...` -> `<run>` (the run id as the layout stores it)."""
    if not prefix:
        return None
    parts = prefix.rstrip("/").split("/")
    if "runs" in parts[:-1]:
        return parts[len(parts) - 1 - parts[::-1].index("runs") + 1]
    return None


def figures(result: dict[str, Any] | None) -> dict[str, float]:
    """What a stage's JSON result says it did, under FIGURES' names (absent: not reported)."""
    if not result:
        return {}
    out: dict[str, float] = {}
    frames = result.get("frames", result.get("frame_count"))
    if isinstance(frames, int):
        out["frames"] = frames
    for name in ("faces_found", "faces_swapped", "faces_restored"):
        if isinstance(result.get(name), int):
            out[name] = result[name]
    if "unit_id" in result:  # a swap or restore unit
        out["units"] = 1
        out["reused_units"] = 1 if result.get("cached") else 0
    elif isinstance(result.get("units"), int):  # split: every unit, some reused
        out["units"] = result["units"]
        out["reused_units"] = int(result.get("cached") or 0)
    return out


def model_of(result: dict[str, Any] | None) -> str:
    """The models that did the work (`offline`, `neural`), a closed set; `none` elsewhere."""
    backend = (result or {}).get("backend")
    return str(backend) if backend else "none"


def registry_for(
    ctx: StageContext, outcome: str, wall: float, result: dict[str, Any] | None
) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry, Gauge  # only in a stage that pushes

    registry = CollectorRegistry()
    labels = {
        "dag": ctx.dag,
        "stage": ctx.stage,
        "tier": ctx.tier,
        "outcome": outcome,
        "model": model_of(result),
    }
    values: dict[str, float] = {
        **figures(result),
        "wall_seconds": wall,
        "gpu_seconds": wall * ctx.gpus,
        "bytes_read": storage.MOVED["read"],
        "bytes_written": storage.MOVED["written"],
        "retries": ctx.attempt - 1,
        "end_timestamp_seconds": time.time(),
    }
    if "frames" in values and wall > 0:
        values["frames_per_second"] = values["frames"] / wall
    for name, value in values.items():
        gauge = Gauge(f"recast_stage_{name}", FIGURES[name], LABELS, registry=registry)
        gauge.labels(**labels).set(value)
    return registry


def push(ctx: StageContext, outcome: str, wall: float, result: dict[str, Any] | None) -> None:
    """Push the stage's figures if a gateway is configured; a warning, never an error."""
    gateway = os.environ.get(ENV_GATEWAY)
    if not gateway:
        return
    try:
        push_to(gateway, ctx, outcome, wall, result)
        prune(gateway, float(os.environ.get(ENV_KEEP) or 86400))
    except Exception as exc:  # the figures are not worth a failed unit
        log.warning("metrics not pushed to %s: %s", gateway, exc)


def push_to(
    gateway: str, ctx: StageContext, outcome: str, wall: float, result: dict[str, Any] | None
) -> None:
    """One PUT: the unit attempt's group replaced whole (a retry is a group of its own)."""
    from prometheus_client.exposition import push_to_gateway

    registry = registry_for(ctx, outcome, wall, result)
    push_to_gateway(
        gateway, job=JOB, registry=registry, grouping_key=ctx.grouping(), timeout=PUSH_TIMEOUT
    )


def prune(gateway: str, keep: float) -> int:
    """Delete this job's groups pushed more than `keep` seconds ago; how many."""
    from prometheus_client.exposition import delete_from_gateway

    url = gateway if "://" in gateway else f"http://{gateway}"
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=PUSH_TIMEOUT) as resp:
        groups = json.loads(resp.read())["data"]
    cutoff = time.time() - keep
    deleted = 0
    for group in groups:
        labels = dict(group["labels"])
        pushed = float(group["push_time_seconds"]["metrics"][0]["value"])
        if labels.pop("job", None) != JOB or pushed >= cutoff:
            continue
        if labels.get("instance") == "":  # the gateway's filler, not part of the key
            del labels["instance"]
        delete_from_gateway(gateway, job=JOB, grouping_key=labels, timeout=PUSH_TIMEOUT)
        deleted += 1
    return deleted


def push_poll(claimed: int) -> None:
    """The drop folder's poll: when it last looked and what it claimed (one group, replaced at
    every poll: the Pushgateway's own use case). RecastDropFolderNotPolled alerts on it."""
    gateway = os.environ.get(ENV_GATEWAY)
    if not gateway:
        return
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.exposition import push_to_gateway

    registry = CollectorRegistry()
    last = Gauge("recast_dropfolder_last_poll_timestamp_seconds", "Unix time of the last poll",
                 registry=registry)  # fmt: skip
    last.set(time.time())
    jobs = Gauge("recast_dropfolder_claimed_jobs", "job files the last poll claimed",
                 registry=registry)  # fmt: skip
    jobs.set(claimed)
    try:
        push_to_gateway(gateway, job="recast_dropfolder", registry=registry, timeout=PUSH_TIMEOUT)
    except Exception as exc:  # a missing figure, never a missed poll
        log.warning("drop folder poll not pushed to %s: %s", gateway, exc)
