"""Each hard case of bench/hard_films.py once, on a tiny film at x264 CRF 32, against the
ground truth its generator wrote (F1 at one frame of tolerance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.hard_films import CASES, Boundary, frames_of, hard_film, score, write
from tasks.shots.detect import detect_shots

# The classical detector handles these (the dissolve: 46 frames between moving shots; the flash
# cut: a shot of 3-6 frames); cuts between two framings of one scene may need the learned
# model's say (the fused detector; test_learned.py asks it on another film).
FUSED = ("same_scene",)
CLASSICAL = [c for c in CASES if c not in FUSED]


def _found(path: Path, detector: str = "classical") -> list[tuple[int, str]]:
    shots = detect_shots(path, detector=detector)  # type: ignore[arg-type]
    return [(s.start_frame, s.transition) for s in shots.shots[1:]]


def test_truth_matches_the_cases() -> None:
    film = hard_film(CASES, seed=5)
    kinds = [b.kind for b in film.truth()]
    assert {"cut", "dissolve", "wipe", "fade"} <= set(kinds)
    lengths = {b.kind: b.length for b in film.truth() if b.kind != "cut"}
    assert 30 <= lengths["dissolve"] <= 50 and lengths["wipe"] >= 12 and lengths["fade"] >= 12
    short = [s.frames for s in film.shots if s.frames < 8]
    assert len(short) == 1 and 3 <= short[0] <= 6  # the flash cut
    assert sum(1 for _ in frames_of(film, 64, 36)) == film.frames


@pytest.mark.parametrize("case", CLASSICAL)
def test_classical_finds_each_case(tmp_path: Path, case: str) -> None:
    film = hard_film([case], seed=CASES.index(case))
    path = write(film, tmp_path / f"{case}.mp4", size=(320, 180), crf=32)
    found = _found(path)
    result = score(found, film.truth(), 1)
    assert result["all"]["f1"] == 1.0, (case, found, film.truth())
    assert [k for _, k in found] == [b.kind for b in film.truth()]


def test_fused_finds_cuts_between_framings_of_one_scene(tmp_path: Path) -> None:
    case = "same_scene"
    film = hard_film([case], seed=CASES.index(case))
    path = write(film, tmp_path / f"{case}.mp4", size=(320, 180), crf=32)
    assert [b.kind for b in film.truth()] == ["cut"]
    found = _found(path, "fused")
    assert score(found, film.truth(), 1)["all"]["f1"] == 1.0, (case, found, film.truth())


def test_scorer_counts_cuts_and_gradual_apart() -> None:
    truth = [Boundary(10, "cut", 0), Boundary(50, "dissolve", 30), Boundary(90, "cut", 0)]
    exact = score([(10, "cut"), (51, "dissolve"), (90, "cut"), (70, "cut")], truth, 0)
    assert exact["cut"]["recall"] == 1.0 and exact["cut"]["false"] == 1
    assert exact["gradual"]["recall"] == 0.0 and exact["gradual"]["false"] == 1
    loose = score([(10, "cut"), (51, "dissolve"), (90, "cut"), (70, "cut")], truth, 1)
    assert loose["gradual"]["f1"] == 1.0 and loose["all"]["precision"] == 0.75
