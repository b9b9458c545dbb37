"""A real run prefix in S3 (probe, shots, plan, split done) for the unit fault tests, and a way
to run a unit stage exactly as a pod does: `python -m tasks <stage> --run ... --unit ...`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from recast.samples import make_film, varied_shots
from tasks import storage
from tasks.layout import RunLayout
from tasks.media.frames import read_frames
from tasks.spec import FaceMapping, RenderSpec, UnitPlan
from tasks.stages import plan, probe, shots, split

SHOTS = [30, 12]  # the astronaut (a face), then coffee (none)


def upload_inputs(bucket: str, tmp: Path) -> RenderSpec:
    """The film and a face to put in it, in S3, and the spec of a render of them."""
    from skimage import data

    film = make_film(tmp / "film.mp4", varied_shots(SHOTS), size=(256, 144))
    face = tmp / "camera.png"
    Image.fromarray(data.camera()).convert("RGB").save(face)
    asset = storage.upload(film, f"s3://{bucket}/in/film.mp4")
    source = storage.upload(face, f"s3://{bucket}/in/camera.png")
    return RenderSpec(asset=asset, faces=[FaceMapping(source=source)], consent_reference="REL-1")


def prepare_run(bucket: str, run_id: str, spec: RenderSpec) -> RunLayout:
    """What runs before the units: spec, probe (with the asset's hash), shots, plan, split."""
    layout = RunLayout.for_run(f"s3://{bucket}", run_id)
    storage.write_json(layout.spec, spec.model_dump_json())
    probe.run(spec.asset, layout.probe)
    shots.run(spec.asset, layout.shots)
    plan.run(layout.prefix)
    split.run(spec.asset, layout.prefix)
    return layout


def only_unit(layout: RunLayout) -> str:
    units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
    assert len(units) == 1, units
    return units[0].id


def stage_command(stage: str, layout: RunLayout, unit: str, result: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tasks",
        "--result",
        str(result),
        stage,
        "--run",
        layout.prefix,
        "--unit",
        unit,
    ]


def run_stage(
    stage: str, layout: RunLayout, unit: str, tmp: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        stage_command(stage, layout, unit, tmp / f"{stage}-result.json"),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def frames_of(uri: str, tmp: Path) -> list[np.ndarray]:
    local = storage.download(uri, tmp / f"check-{abs(hash(uri))}.mkv")
    return list(read_frames(local))


def unit_keys_in(bucket: str, layout: RunLayout, unit: str) -> dict[str, Any]:
    """Every object under the unit's folder of the run: key -> size."""
    prefix = layout.unit(unit, "").split(f"s3://{bucket}/", 1)[1]
    listing = storage.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :]: o["Size"] for o in listing.get("Contents", [])}
