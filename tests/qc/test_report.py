from __future__ import annotations

import numpy as np

from tasks.qc.report import ShotFrames, build, shot_rows, to_html
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
        {"shot": 0, "faces_found": 10, "faces_swapped": 10, "similarity": 0.6, "flicker": 1.1},
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
    assert rows[0]["warnings"] == [] and rows[0]["similarity"] == 0.6
    assert rows[1]["warnings"] == ["faces found, none matched a mapping"]
    assert rows[2]["warnings"] == ["no face in this shot"]


def test_low_identity_similarity_is_flagged() -> None:
    swaps = [{"per_shot": [{"shot": 0, "faces_found": 1, "faces_swapped": 1, "similarity": 0.1}]}]
    assert "far from its source" in shot_rows(SHOTS, swaps)[0]["warnings"][0]


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
    page = to_html(report, {0: ShotFrames(frame, frame + 50)})
    assert page.count("data:image/jpeg;base64,") == 2
    assert "C-1" in page and "no face in this shot" in page
