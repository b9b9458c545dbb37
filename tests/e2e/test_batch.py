"""recast_batch end to end under a real Airflow: a two-asset manifest, both published, in
priority order, each on its own tier's pool."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from recast.up import BUCKET, Stack

pytestmark = pytest.mark.e2e

MANIFEST = """\
defaults:
  consent_reference: REL-BATCH-1
  faces: [{source: s3://recast/faces/source.png, reference: s3://recast/faces/reference.png}]
renders:
  - {asset: reels/first.mp4, priority: 1, tier: spot}
  - {asset: reels/second.mp4, priority: 9, tier: mig}
"""


def test_a_manifest_of_two_assets_is_rendered(stack: Stack) -> None:
    s3 = stack.s3_client()
    for name in ("first", "second"):
        s3.copy_object(
            Bucket=BUCKET,
            Key=f"batch/reels/{name}.mp4",
            CopySource={"Bucket": BUCKET, "Key": "inputs/demo.mp4"},
        )
    s3.put_object(Bucket=BUCKET, Key="batch/manifest.yaml", Body=MANIFEST.encode())
    for dag_id in ("recast_render", "recast_batch"):
        stack.wait_for_dag(dag_id)

    run_id = stack.trigger("recast_batch", {"manifest": f"s3://{BUCKET}/batch/manifest.yaml"})
    assert stack.wait_for_run("recast_batch", run_id, timeout=480) == "success"

    report_key = f"batch/reports/{_safe(run_id)}.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read())
    rows = report["renders"]
    # Highest priority first: the order the renders were started in.
    assert [r["asset"].rsplit("/", 1)[-1] for r in rows] == ["second.mp4", "first.mp4"]
    assert [r["state"] for r in rows] == ["success", "success"] and report["refused"] == []
    for row in rows:
        key = row["film"].removeprefix(f"s3://{BUCKET}/")
        assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 1000
    pools = {row["asset"].rsplit("/", 1)[-1]: _unit_pools(stack, row["run_id"]) for row in rows}
    assert pools == {"second.mp4": {"recast_gpu_mig"}, "first.mp4": {"recast_gpu_spot"}}


def _safe(run_id: str) -> str:
    from tasks.layout import safe_run_id

    return safe_run_id(run_id)


def _unit_pools(stack: Stack, run_id: str) -> set[str]:
    path = f"/api/v2/dags/recast_render/dagRuns/{quote(run_id, safe='')}/taskInstances"
    tis = stack.api("GET", f"{path}?limit=100")["task_instances"]
    return {ti["pool"] for ti in tis if ti["task_id"] in ("swap", "restore")}
