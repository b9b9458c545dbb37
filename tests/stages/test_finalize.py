"""The finalize stage on a real run layout in S3: QC report, provenance, signed delivery film."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recast.samples import make_film, varied_shots
from tasks import storage
from tasks.layout import RunLayout
from tasks.provenance import identity as ids
from tasks.provenance.c2pa_manifest import verify
from tasks.stages import finalize

SHOTS = [8, 6]


@pytest.fixture
def run(bucket: str, tmp_path: Path) -> tuple[RunLayout, str]:
    film = make_film(tmp_path / "film.mp4", varied_shots(SHOTS), size=(160, 90))
    asset = storage.upload(film, f"s3://{bucket}/in/film.mp4")
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    spec = {"asset": asset, "faces": [{"source": f"s3://{bucket}/f.png"}]}
    storage.write_json(layout.spec, spec)
    storage.write_json(
        layout.shots,
        {
            "fps": "24",
            "frame_count": sum(SHOTS),
            "shots": [
                {"index": 0, "start_frame": 0, "end_frame": 8},
                {"index": 1, "start_frame": 8, "end_frame": 14},
            ],
        },
    )
    storage.write_json(
        layout.results,
        {
            "run_id": "manual__r1",
            "stages": {"probe": {"seconds": 0.25}, "assemble": {"seconds": 1.5}},
            "swaps": [
                {"seconds": 3.0, "per_shot": [{"shot": 0, "faces_found": 8, "faces_swapped": 8}]},
                {"seconds": 1.0, "per_shot": [{"shot": 1, "faces_found": 0, "faces_swapped": 0}]},
            ],
            "restores": [{"seconds": 0.5}, {"seconds": 0.5}],
            "tiers": {"swap": "standard", "restore": "standard"},
        },
    )
    storage.upload(film, layout.film)
    return layout, asset


def test_signed_delivery_and_reports(
    run: tuple[RunLayout, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, asset = run
    identity = ids.development_identity()
    for key, value in ids.save(identity, tmp_path / "id").items():
        monkeypatch.setenv(key, value)
    result = finalize.run(asset, layout.prefix)
    assert result["signed"] is True

    qc = storage.read_json(layout.qc_json)
    assert qc["frames"] == sum(SHOTS) and qc["faces_swapped"] == 8 and qc["units"] == 2
    assert qc["seconds"]["swap"] == 4.0 and qc["gpu_seconds"] == {"standard": 5.0}
    assert qc["warnings"] == ["shot 1: no face in this shot"]
    page = storage.read_bytes(layout.qc_html).decode()
    assert page.count("data:image/jpeg;base64,") == 2 * len(SHOTS)

    delivery = storage.download(layout.delivery, tmp_path / "delivery.mp4")
    check = verify(delivery, identity.anchor_pem)
    assert check.valid and check.trusted and check.facts is not None
    provenance = storage.read_json(layout.provenance)
    assert provenance["signed"] is True
    assert {k: v for k, v in provenance.items() if k in check.facts} == check.facts
    assert check.facts["run_id"] == "manual__r1" and check.facts["faces_swapped"] == 8


def test_without_an_identity_the_film_is_published_unsigned_with_a_warning(
    run: tuple[RunLayout, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layout, asset = run
    monkeypatch.delenv("RECAST_C2PA_CERT", raising=False)
    monkeypatch.delenv("RECAST_C2PA_KEY", raising=False)
    assert finalize.run(asset, layout.prefix)["signed"] is False
    assert "not signed" in json.dumps(storage.read_json(layout.qc_json)["warnings"])
    delivery = storage.download(layout.delivery, tmp_path / "d.mp4")
    assert delivery.read_bytes() == storage.read_bytes(layout.film)
