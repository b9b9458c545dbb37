"""The batch manifest: defaults, priorities, relative inputs, refused entries."""

from __future__ import annotations

import pytest

from recast_airflow import batch
from tasks import storage
from tasks.allowlist import BucketAllowList
from tasks.spec import SpecError

MANIFEST = """\
defaults:
  tier: spot
  faces: [{source: faces/lead.png}]
renders:
  - {asset: reels/low.mp4}
  - {asset: s3://archive/high.mp4, priority: 10, tier: standard}
  - {asset: reels/mid.mp4, priority: 5, consent_reference: REL-1}
  - {asset: /etc/passwd}
  - {asset: reels/x.mp4, restore: codeformer}
  - just a string
  - {asset: s3://elsewhere/x.mp4}
"""


def test_entries_in_priority_order_with_defaults_and_refusals(bucket: str) -> None:
    uri = f"s3://{bucket}/batch/nightly.yaml"
    storage.write_bytes(uri, MANIFEST.encode())
    allowed = BucketAllowList.parse(f"{bucket},archive")
    renders, refused = batch.load(
        uri, "scheduled__2026-01-02T02:00:00+00:00", f"s3://{bucket}", allowed
    )
    assert [r["asset"] for r in renders] == [
        "s3://archive/high.mp4",
        f"s3://{bucket}/batch/reels/mid.mp4",
        f"s3://{bucket}/batch/reels/low.mp4",
    ]
    assert [r["priority"] for r in renders] == [10, 5, 0]
    high, mid, low = renders
    assert high["conf"]["tier"] == "standard" and low["conf"]["tier"] == "spot"
    assert mid["conf"]["consent_reference"] == "REL-1"
    assert low["conf"]["faces"][0]["source"] == f"s3://{bucket}/batch/faces/lead.png"
    assert "priority" not in low["conf"]  # not a spec field: the render would refuse it
    assert low["run_id"] == "batch__scheduled__2026-01-02T02-00-00-00-00__0000"
    assert low["film"].endswith(f"/renders/low/{low['run_id']}/film.mp4")
    assert batch.trigger_kwargs(low) == {"trigger_run_id": low["run_id"], "conf": low["conf"]}
    assert len(refused) == 4
    assert refused[0].startswith("entry 3: asset '/etc/passwd'")
    assert refused[1].startswith("entry 4:") and "restore" in refused[1]
    assert refused[2] == "entry 5: an entry must be a mapping"
    assert refused[3] == (
        "entry 6: asset: bucket 'elsewhere' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS={bucket},archive)"
    )


def test_a_plain_list_is_a_manifest_too(bucket: str) -> None:
    uri = f"s3://{bucket}/m.json"
    storage.write_bytes(uri, b'[{"asset": "a.mp4", "faces": [{"source": "f.png"}]}]')
    renders, refused = batch.load(uri, "manual__1", f"s3://{bucket}")
    assert [r["asset"] for r in renders] == [f"s3://{bucket}/a.mp4"] and refused == []


def test_a_manifest_of_the_wrong_shape_is_refused(bucket: str) -> None:
    uri = f"s3://{bucket}/m.yaml"
    storage.write_bytes(uri, b"renders: 3\n")
    with pytest.raises(SpecError, match="expected a list of renders"):
        batch.load(uri, "manual__1", f"s3://{bucket}")
