"""Dissolves, fades, flashes and fast pans: F1 >= 0.95 at one frame, and no false cuts."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from recast.samples import ShotSpec, make_film, mixed_shots
from tasks.shots.detect import DETECTOR, detect_shots
from tasks.spec import ShotList


def _truth(shots: list[ShotSpec]) -> dict[int, str]:
    starts = list(accumulate(s.frames for s in shots))[:-1]
    return {start: shot.transition for start, shot in zip(starts, shots[1:], strict=True)}


def _f1(found: list[int], truth: list[int], tolerance: int = 1) -> float:
    unmatched = list(truth)
    hits = 0
    for frame in found:
        match = next((t for t in unmatched if abs(t - frame) <= tolerance), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    if not found or not truth:
        return float(found == truth)
    precision, recall = hits / len(found), hits / len(truth)
    return 2 * precision * recall / max(precision + recall, 1e-9)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ShotList, dict[int, str]]:
    shots = mixed_shots(16, seed=2, fast_pans=False)
    path = tmp_path_factory.mktemp("mixed") / "mixed.mp4"
    make_film(path, shots, fps="25", size=(320, 180), audio=False)
    return detect_shots(path), _truth(shots)


@pytest.mark.parametrize("kind", ["cut", "dissolve", "fade"])
def test_transitions_found_within_one_frame(
    mixed: tuple[ShotList, dict[int, str]], kind: str
) -> None:
    found, truth = mixed
    wanted = [frame for frame, k in truth.items() if k == kind]
    assert wanted, f"the film has no {kind}"
    got = [s.start_frame for s in found.shots[1:] if s.transition == kind]
    assert _f1(got, wanted) >= 0.95, (kind, got, wanted)


def test_all_boundaries_f1(mixed: tuple[ShotList, dict[int, str]]) -> None:
    found, truth = mixed
    assert _f1([s.start_frame for s in found.shots[1:]], list(truth)) >= 0.95
    assert found.detector == DETECTOR and found.params["min_shot_frames"] == 3
    gradual = [s for s in found.shots if s.transition != "cut"]
    assert gradual and all(s.transition_frames >= 4 for s in gradual)


def test_flash_and_fast_pan_inside_a_shot_are_not_cuts(tmp_path: Path) -> None:
    still = np.asarray(data.astronaut())
    shots = [
        ShotSpec(data.coffee(), 30, 440.0, "zoom", flashes=(9, 17, 18)),  # a flash, a strobe
        ShotSpec(still, 40, 550.0, "fastpan"),
        ShotSpec(data.chelsea(), 30, 660.0, "static", flashes=(15,)),
    ]
    path = make_film(tmp_path / "flash.mp4", shots, fps="25", size=(320, 180), audio=False)
    assert [s.start_frame for s in detect_shots(path).shots] == [0, 30, 70]
