"""The Airflow-side steps of a render, against a real S3 API: validation refuses early."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from recast_airflow.config import Settings
from recast_airflow.render import report, validate
from tasks import storage
from tasks.spec import SpecError

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"


def _settings(bucket: str, models: str | None = None) -> Settings:
    return Settings("local", f"s3://{bucket}", "img", "ns", TIERS, models)


@pytest.fixture
def inputs(bucket: str) -> dict[str, str]:
    storage.write_bytes(f"s3://{bucket}/in/film.mp4", b"x")
    storage.write_bytes(f"s3://{bucket}/faces/a.png", b"x")
    return {"asset": f"s3://{bucket}/in/film.mp4", "face": f"s3://{bucket}/faces/a.png"}


def test_a_valid_spec_is_stored_and_every_stage_gets_its_command(
    bucket: str, inputs: dict[str, str]
) -> None:
    conf = {
        "asset": inputs["asset"],
        "faces": [{"source": inputs["face"]}],
        "consent_reference": "REL-1",
    }
    out = validate(conf, "manual__2026-01-01T00:00:00+00:00", _settings(bucket))
    assert out["run"] == f"s3://{bucket}/runs/manual__2026-01-01T00-00-00-00-00"
    assert storage.read_json(f"{out['run']}/spec.json")["asset"] == inputs["asset"]
    assert out["probe_args"] == ["probe", inputs["asset"], "--out", f"{out['run']}/probe.json"]
    assert out["destination"].startswith(f"s3://{bucket}/renders/film/")


Change = Callable[[str, str], dict[str, object]]  # (bucket, face uri) -> conf overrides

BAD: list[tuple[Change, str]] = [
    (lambda b, f: {"asset": f"s3://{b}/in/missing.mp4"}, "asset not found: s3://.*/missing.mp4"),
    (lambda b, f: {"faces": [{"source": f"s3://{b}/none.png"}]}, "face source 1 not found"),
    (
        lambda b, f: {"faces": [{"source": f, "reference": f"s3://{b}/r.png"}]},
        "face reference 1 not found",
    ),
    (
        lambda b, f: {
            "consent_reference": None,
            "faces": [{"source": f}, {"source": f, "consent": "R"}],
        },
        "no consent reference for face mapping 1:",
    ),
    (lambda b, f: {"restore": "gfpgan"}, "needs restoration weights from a model store"),
    (lambda b, f: {"max_units": 5000}, "max_units"),
    (lambda b, f: {"tier": "cpu"}, "'cpu' is not a GPU tier; choose one of \\['mig', 'spot'"),
]


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_bad_specs_are_refused_before_anything_is_written(
    bucket: str, inputs: dict[str, str], change: Change, reason: str
) -> None:
    conf = {
        "asset": inputs["asset"],
        "faces": [{"source": inputs["face"]}],
        "consent_reference": "REL-1",
    }
    conf.update(change(bucket, inputs["face"]))
    with pytest.raises(SpecError, match=reason):
        validate(conf, "run1", _settings(bucket))
    assert not storage.exists(f"s3://{bucket}/runs/run1/spec.json")


def test_report_sums_units_and_lists_shots() -> None:
    swaps = [
        {"seconds": 2.0, "faces_found": 3, "faces_swapped": 2, "per_shot": [{"shot": 0}]},
        {"seconds": 1.5, "faces_found": 1, "faces_swapped": 0, "per_shot": [{"shot": 1}]},
    ]
    summary = report(
        run_id="r",
        spec_uri="/nonexistent/spec.json",
        stage_results={"detect_shots": {"seconds": 0.5, "shots": 2}, "assemble": {"frames": 9}},
        swaps=swaps,
        restores=[{"seconds": 0.25}],
    )
    assert summary["faces_found"] == 4 and summary["faces_swapped"] == 2
    assert summary["seconds"]["swap"] == 3.5 and summary["seconds"]["restore"] == 0.25
    assert summary["units"] == 2 and summary["frames"] == 9 and summary["shots"] == 2
