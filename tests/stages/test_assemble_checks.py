"""The assembled film is checked before anything is uploaded: frames, audio, duration."""

from __future__ import annotations

import pytest

from tasks.spec import Probe, Unit, UnitPlan
from tasks.stages.assemble import check_film


def _probe(frames: int, duration: float, audio: int) -> Probe:
    return Probe(
        width=640,
        height=360,
        fps="24000/1001",
        frame_count=frames,
        duration=duration,
        video_codec="h264",
        pix_fmt="yuv420p",
        audio_streams=audio,
    )


PLAN = UnitPlan(
    fps="24000/1001",
    frame_count=240,
    units=[Unit(id="u0000-0123abcd", index=0, start_frame=0, end_frame=240, shots=[0])],
)
ASSET = _probe(240, 10.01, 2)


def test_a_film_like_the_asset_passes() -> None:
    check_film(_probe(240, 10.03, 2), ASSET, PLAN, "the review film")  # AAC priming: < 1 frame


@pytest.mark.parametrize(
    ("film", "reason"),
    [
        (_probe(239, 10.01, 2), "239 frames, the asset 240"),
        (_probe(240, 10.01, 1), "1 audio streams, the asset 2"),
        (_probe(240, 10.01, 0), "0 audio streams, the asset 2"),
        (_probe(240, 9.5, 2), "lasts 9.500 s, the asset 10.010 s"),
    ],
)
def test_a_short_or_silent_film_is_refused(film: Probe, reason: str) -> None:
    with pytest.raises(RuntimeError, match=f"the master fails its checks: .*{reason}"):
        check_film(film, ASSET, PLAN, "the master")


def test_without_audio_the_frames_decide() -> None:
    silent = _probe(240, 10.01, 0)
    check_film(_probe(240, 10.2, 0), silent, PLAN, "the review film")
