"""The frames assemble keeps for the contact sheet and the QC thumbnails: thumbnail-sized, so a
feature's thousands of shots do not hold full frames in memory, and the same pictures as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recast.samples import make_film, varied_shots
from tasks.media.contact_sheet import THUMB_WIDTH, frames_at, middle_frame, shot_pairs
from tasks.qc import thumbs
from tasks.spec import ShotList


def test_shot_pairs_keep_thumbnails_that_equal_the_full_frames_thumbnails(tmp_path: Path) -> None:
    film = make_film(tmp_path / "film.mp4", varied_shots([10, 12]), size=(640, 360), audio=False)
    shots = ShotList.model_validate(
        {
            "fps": "24",
            "frame_count": 22,
            "shots": [
                {"index": 0, "start_frame": 0, "end_frame": 10},
                {"index": 1, "start_frame": 10, "end_frame": 22},
            ],
        }
    )
    pairs = shot_pairs(film, film, shots)
    middles = {middle_frame(s.start_frame, s.end_frame) for s in shots.shots}
    full = frames_at(film, middles)
    for shot in shots.shots:
        index, before, after = pairs[shot.index]
        assert before.shape == after.shape == (180, THUMB_WIDTH, 3)  # not 640x360
        assert full[index].shape == (360, 640, 3)
        # What the sheet and the QC page show is what they showed from full frames.
        assert thumbs.jpeg(before) == thumbs.jpeg(full[index])
        assert np.array_equal(before, after)
