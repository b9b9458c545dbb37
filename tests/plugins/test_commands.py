"""The command lines the render DAG gives its stages."""

from __future__ import annotations

from recast_airflow import commands
from tasks.layout import RunLayout


def test_detect_shots_also_counts_faces_for_the_plan() -> None:
    layout = RunLayout("s3://work/runs/r1")
    assert commands.detect_shots("s3://in/film.mp4", layout) == [
        "detect-shots", "s3://in/film.mp4", "--out", "s3://work/runs/r1/shots.json",
        "--census", "s3://work/runs/r1/census.json",
    ]  # fmt: skip


def test_detect_shots_passes_the_spec_detector() -> None:
    layout = RunLayout("s3://work/runs/r1")
    assert commands.detect_shots("s3://in/film.mp4", layout, "fused")[-2:] == [
        "--detector",
        "fused",
    ]
