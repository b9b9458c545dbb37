"""Seeking to sampled frames gives exactly the frames a full decode numbers so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks.media.frames import read_frames
from tasks.qc.frames import seek_frames
from tasks.spec import SpecError


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 130 frames: x264's default keyframe interval (250) is longer, so seeks land mid-GOP.
    shots = varied_shots([40, 50, 40])
    return make_film(tmp_path_factory.mktemp("seek") / "f.mp4", shots, size=(96, 64), audio=False)


def test_seeking_matches_a_full_decode(film: Path) -> None:
    every = list(read_frames(film))
    wanted = {0, 1, 39, 40, 64, 65, 120, 129, 100}
    got = seek_frames(film, wanted)
    assert sorted(got) == sorted(wanted)
    assert all(np.array_equal(got[i], every[i]) for i in wanted)


def test_a_frame_past_the_end_is_refused(film: Path) -> None:
    with pytest.raises(SpecError, match="has no frame 130"):
        seek_frames(film, {3, 130})
