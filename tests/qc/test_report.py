from __future__ import annotations

import numpy as np

from tasks.qc.identity import FaceSample, Thresholds
from tasks.qc.report import build, shot_rows, to_html
from tasks.qc.thumbs import ShotThumbs, jpeg
from tasks.spec import Shot, ShotList

SHOTS = ShotList(
    fps="24",
    frame_count=30,
    shots=[
        Shot(index=0, start_frame=0, end_frame=10),
        Shot(index=1, start_frame=10, end_frame=20),
        Shot(index=2, start_frame=20, end_frame=30),
    ],
)
# Two units; shot 1 is split across them.
SWAPS = [
    {"seconds": 4.0, "per_shot": [
        {"shot": 0, "faces_found": 10, "faces_swapped": 10, "flicker": 1.1},
        {"shot": 1, "faces_found": 3, "faces_swapped": 0},
    ]},
    {"seconds": 2.0, "per_shot": [
        {"shot": 1, "faces_found": 2, "faces_swapped": 0},
        {"shot": 2, "faces_found": 0, "faces_swapped": 0},
    ]},
]  # fmt: skip


def test_rows_sum_units_per_shot_and_warn() -> None:
    rows = shot_rows(SHOTS, SWAPS)
    assert [r["faces_found"] for r in rows] == [10, 5, 0]
    assert [r["faces_swapped"] for r in rows] == [10, 0, 0]
    assert rows[0]["warnings"] == [] and rows[0]["flicker"] == 1.1
    assert rows[1]["warnings"] == ["faces found, none matched a mapping"]
    assert rows[2]["warnings"] == ["no face in this shot"]


def _sample(frame: int, to_source: float, to_original: float, detection: float) -> FaceSample:
    return FaceSample(0, frame, 0, to_source, to_original, detection)


def test_identity_fills_the_row_with_the_worst_sample_and_warns_once_per_kind() -> None:
    swaps = [{"per_shot": [{"shot": 0, "faces_found": 3, "faces_swapped": 3}]}]
    samples = [_sample(2, 0.95, 0.90, 0.9), _sample(5, 0.30, 0.40, 0.55), _sample(7, 0.2, 0.1, 0.9)]
    row = shot_rows(SHOTS, swaps, samples, Thresholds(similarity=0.35, detection=0.6))[0]
    assert (row["similarity"], row["similarity_to_original"], row["detection"]) == (0.2, 0.9, 0.55)
    assert [s["frame"] for s in row["identity"]] == [2, 5, 7]
    assert row["warnings"] == [
        "replaced face far from its source at frame 7 (similarity 0.20 < 0.35)",
        "replaced face still looks like the original at frame 5 "
        "(to original 0.40 >= to source 0.30)",
        "low-confidence face detection at frame 5 (score 0.55 < 0.60)",
    ]


def test_a_convincing_face_raises_no_warning() -> None:
    swaps = [{"per_shot": [{"shot": 0, "faces_found": 1, "faces_swapped": 1}]}]
    row = shot_rows(SHOTS, swaps, [_sample(4, 0.95, 0.90, 0.9)], Thresholds(0.92, 0.6))[0]
    assert row["warnings"] == [] and row["similarity"] == 0.95


def test_report_totals_costs_and_html() -> None:
    report = build(
        run_id="r1",
        asset="s3://b/film.mp4",
        shots=SHOTS,
        swaps=SWAPS,
        stage_seconds={"probe": 0.5, "swap": 6.0, "restore": 1.0},
        unit_tiers={"swap": "spot", "restore": "spot"},
        consent_references=["C-1"],
        frames=30,
    )
    assert report["faces_found"] == 15 and report["faces_swapped"] == 10
    assert report["gpu_seconds"] == {"spot": 7.0}
    assert report["seconds"]["probe"] == 0.5
    assert len(report["warnings"]) == 2
    frame = np.zeros((36, 64, 3), np.uint8)
    page = to_html(report, {0: ShotThumbs(jpeg(frame), jpeg(frame + 50))})
    assert page.count("data:image/jpeg;base64,") == 2
    assert "C-1" in page and "no face in this shot" in page


def test_warnings_name_the_face_mapping_when_several_actors_are_replaced() -> None:
    swaps = [{"per_shot": [{"shot": 0, "faces_found": 2, "faces_swapped": 2}]}]
    samples = [
        FaceSample(0, 3, 0, 0.95, 0.90, 0.9, mapping=0),
        FaceSample(0, 3, 1, 0.20, 0.40, 0.9, mapping=1),
    ]
    row = shot_rows(SHOTS, swaps, samples, Thresholds(similarity=0.35, detection=0.6))[0]
    assert row["warnings"] == [
        "replaced face far from its source (face mapping 1) at frame 3 (similarity 0.20 < 0.35)",
        "replaced face (face mapping 1) still looks like the original at frame 3 "
        "(to original 0.40 >= to source 0.20)",
    ]
