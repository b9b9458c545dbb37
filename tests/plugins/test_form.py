"""The render form: built from the spec and the tier file, so nothing is listed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast_airflow.config import Settings
from recast_airflow.form import render_params
from recast_airflow.tiers import gpu_tiers, load_tiers
from tasks.spec import DELIVERY_PRESETS, MEZZANINES, RESTORE_MODES, RenderSpec

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"


@pytest.fixture(scope="module")
def params() -> dict:  # type: ignore[type-arg]
    return render_params(Settings("local", "s3://studio", "img", "ns", TIERS, None))


ON_SCREEN = ["asset", "faces", "restore", "restore_strength", "delivery", "mezzanine", "tier"]
ON_SCREEN += ["consent_reference", "output_prefix"]


def test_every_spec_field_is_on_the_form_with_a_title(params: dict) -> None:  # type: ignore[type-arg]
    assert set(params) == set(RenderSpec.model_fields)
    assert all(param.schema.get("title") for param in params.values())
    for name in ON_SCREEN:
        assert params[name].description, name
        assert "section" not in params[name].schema, f"{name} is hidden under a section"


def test_choices_come_from_the_spec_and_the_tier_file(params: dict) -> None:  # type: ignore[type-arg]
    assert params["restore"].schema["enum"] == list(RESTORE_MODES)
    assert params["restore"].schema["values_display"]["none"] == "Off"
    assert params["delivery"].schema["enum"] == list(DELIVERY_PRESETS)
    assert params["mezzanine"].schema["enum"] == list(MEZZANINES)
    assert params["tier"].schema["enum"] == list(gpu_tiers(load_tiers(TIERS)))
    assert "cpu" not in params["tier"].schema["enum"]


def test_defaults_make_a_valid_spec_on_the_work_bucket(params: dict) -> None:  # type: ignore[type-arg]
    conf = {name: param.resolve() for name, param in params.items()}
    spec = RenderSpec.parse(conf)
    assert spec.asset == "s3://studio/inputs/demo.mp4"
    assert spec.faces[0].reference == "s3://studio/faces/reference.png"
    assert spec.restore == "none" and spec.consent_reference is None


def test_the_form_refuses_what_the_spec_refuses(params: dict) -> None:  # type: ignore[type-arg]
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        params["restore"].resolve("codeformer")
    with pytest.raises(ParamValidationError):
        params["restore_strength"].resolve(1.5)
    with pytest.raises(ParamValidationError):
        params["faces"].resolve([{"reference": "s3://studio/r.png"}])  # no source
    with pytest.raises(ParamValidationError):
        params["tier"].resolve("cpu")
    params["faces"].resolve([{"source": "s3://studio/s.png", "reference": None}])
    params["consent_reference"].resolve("REL-2026-0042")


def test_delivery_fields_are_on_the_form(params: dict) -> None:  # type: ignore[type-arg]
    from airflow.sdk.exceptions import ParamValidationError

    from tasks.spec import DELIVERABLES, PLATE_FORMATS

    assert params["deliveries"].schema["items"]["enum"] == list(DELIVERABLES)
    assert "section" not in params["deliveries"].schema  # on screen
    assert params["plate_format"].schema["enum"] == list(PLATE_FORMATS)
    assert params["plate_format"].schema["values_display"]["exr"] == "OpenEXR 16-bit half"
    for name in ("handles", "plate_format", "source_plates", "start_timecode"):
        assert params[name].schema["section"] == "Shot deliveries", name
    params["deliveries"].resolve(["review", "shots"])
    with pytest.raises(ParamValidationError):
        params["deliveries"].resolve(["film"])
    with pytest.raises(ParamValidationError):
        params["handles"].resolve(101)
    with pytest.raises(ParamValidationError):
        params["start_timecode"].resolve("1:00:00")
    params["start_timecode"].resolve("01:00:00;00")
