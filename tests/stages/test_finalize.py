"""The finalize stage on a real run layout in S3: QC report, provenance, signed delivery film
and master; and, on a small real render of a real face, identity similarity as the render made it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks import storage
from tasks.faces import faces_log
from tasks.faces.detect import detect_faces
from tasks.faces.embed import embed_face
from tasks.faces.images import load_image
from tasks.layout import RunLayout
from tasks.media.contact_sheet import shot_pairs
from tasks.media.frames import read_frames
from tasks.provenance import identity as ids
from tasks.provenance.c2pa_manifest import verify
from tasks.qc import thumbs
from tasks.spec import ShotList
from tasks.stages import finalize, publish
from tests.stage_chain import render_stages

SHOTS = [8, 6]


@pytest.fixture
def run(bucket: str, tmp_path: Path) -> tuple[RunLayout, str]:
    film = make_film(tmp_path / "film.mp4", varied_shots(SHOTS), size=(160, 90))
    asset = storage.upload(film, f"s3://{bucket}/in/film.mp4")
    layout = RunLayout(f"s3://{bucket}/runs/r1")
    spec = {"asset": asset, "faces": [{"source": f"s3://{bucket}/f.png"}]}
    storage.write_json(layout.spec, spec)
    shots = ShotList.model_validate(
        {
            "fps": "24",
            "frame_count": sum(SHOTS),
            "shots": [
                {"index": 0, "start_frame": 0, "end_frame": 8},
                {"index": 1, "start_frame": 8, "end_frame": 14},
            ],
        }
    )
    storage.write_json(layout.shots, shots.model_dump())
    units = [
        {"id": "u0000-0000000a", "index": 0, "start_frame": 0, "end_frame": 8, "shots": [0]},
        {"id": "u0001-0000000b", "index": 1, "start_frame": 8, "end_frame": 14, "shots": [1]},
    ]
    storage.write_json(layout.plan, {"fps": "24", "frame_count": sum(SHOTS), "units": units})
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
    thumbs.write(layout.prefix, shot_pairs(film, film, shots))  # as assemble does
    return layout, asset


def _master(tmp_path: Path) -> Path:
    out = tmp_path / "master.mov"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24",
         "-frames:v", "6", "-c:v", "prores_ks", "-profile:v", "3", str(out)],
        check=True,
    )  # fmt: skip
    return out


def test_signed_delivery_and_reports(
    run: tuple[RunLayout, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, asset = run
    identity = ids.development_identity()
    for key, value in ids.save(identity, tmp_path / "id").items():
        monkeypatch.setenv(key, value)
    storage.upload(_master(tmp_path), layout.master)
    result = finalize.run(asset, layout.prefix)
    assert result["signed"] is True and result["faces_measured"] == 0

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

    # The master is signed with the same facts, and that signed master is what gets published.
    assert provenance["master_signed"] is True
    destination = layout.prefix.replace("/runs/r1", "/renders/film/r1")
    published = publish.run(layout.prefix, destination, {"run_id": "manual__r1"})
    master = storage.download(published["master"], tmp_path / "master.mov")
    check = verify(master, identity.anchor_pem)
    assert check.valid and check.trusted and check.facts == verify(delivery).facts


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


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _t1_person(index: int) -> np.ndarray:
    """One of the people of insightface's t1.jpg, read from the installed wheel."""
    import insightface

    t1 = load_image(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg")
    x1, y1, x2, y2 = sorted(detect_faces(t1), key=lambda f: f.bbox[0])[index].bbox
    w, h = x2 - x1, y2 - y1
    return np.ascontiguousarray(
        t1[
            int(max(0, y1 - 0.4 * h)) : int(y2 + 0.3 * h),
            int(max(0, x1 - 0.4 * w)) : int(x2 + 0.4 * w),
        ]
    )


def test_identity_similarity_is_the_renders_own(tmp_path: Path) -> None:
    """A real face (the astronaut) replaced by another (a t1 person) through the real stages:
    the report's numbers are those recomputed here from the film, the log and the source."""
    shots = [10, 6]  # the astronaut, then a shot with no face
    film = make_film(tmp_path / "film.mp4", varied_shots(shots), size=(640, 360))
    source = tmp_path / "source.png"
    cv2.imwrite(str(source), cv2.cvtColor(_t1_person(5), cv2.COLOR_RGB2BGR))
    layout = RunLayout(str(tmp_path / "run"))
    spec = {"asset": str(film), "faces": [{"source": str(source)}], "consent_reference": "C-7"}
    storage.write_json(layout.spec, spec)
    bounds = [{"index": 0, "start_frame": 0, "end_frame": 10},
              {"index": 1, "start_frame": 10, "end_frame": 16}]  # fmt: skip
    storage.write_json(layout.shots, {"fps": "24", "frame_count": 16, "shots": bounds})
    assert render_stages(film, layout, "r7")["faces_measured"] == 3

    qc = storage.read_json(layout.qc_json)
    assert qc["identity_model"] == "dlib"
    row, empty = qc["per_shot"]
    assert empty["identity"] == [] and empty["similarity"] is None
    assert [s["frame"] for s in row["identity"]] == [2, 4, 7]  # 4: the thumbnail's frame
    before, after = list(read_frames(film)), list(read_frames(Path(layout.film)))
    logged = {}
    for u in (unit["id"] for unit in storage.read_json(layout.plan)["units"]):
        logged.update(faces_log.parse(json.loads(Path(layout.unit(u, "faces.json")).read_text())))
    image = load_image(source)
    wanted = embed_face(image, detect_faces(image)[0])
    for sample in row["identity"]:
        (face,) = logged[sample["frame"]]  # one unit starting at frame 0
        delivered = embed_face(after[sample["frame"]], face)
        assert sample["to_source"] == pytest.approx(_cosine(delivered, wanted), abs=1e-4)
        original = embed_face(before[sample["frame"]], face)
        assert sample["to_original"] == pytest.approx(_cosine(delivered, original), abs=1e-4)
        # The swap took: the delivered face is nearer its source than the face it replaced.
        assert sample["to_source"] > sample["to_original"]
        assert 0.5 < sample["detection"] <= 1.0
    assert row["similarity"] == min(s["to_source"] for s in row["identity"])
    assert not [w for w in row["warnings"] if "source" in w or "original" in w]
    page = storage.read_bytes(layout.qc_html).decode()
    assert f"{row['similarity']:.2f}" in page
