"""The face census: counted on the shot-detection decode's samples, per shot, with known faces."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.samples import ShotSpec, make_film
from tasks import cli
from tasks.faces.census import FaceCensus
from tasks.media.packets import PacketScan
from tasks.shots import detect
from tasks.shots.census import Census, shot_faces
from tasks.shots.detect import detect_shots
from tasks.shots.segments import FrameTable, SegmentError
from tasks.spec import Shot, ShotList

# At 25 fps a frame is sampled every 12: 0, 12, ... The 10-frame shot at 97-107 holds none.
LENGTHS = [30, 25, 42, 10, 30]
FACES = [1, 0, 6, 1, 1]  # astronaut, coffee, six people, cat (unsampled: unknown), astronaut


def _t1() -> np.ndarray:
    """Six people around a table, read from the installed insightface wheel (never copied)."""
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    return np.asarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    stills = [data.astronaut(), data.coffee(), _t1(), data.chelsea(), data.astronaut()]
    focus = [(0.44, 0.3), (0.5, 0.5), (0.5, 0.5), (0.5, 0.5), (0.44, 0.3)]
    specs = [
        ShotSpec(image, frames, 300.0 + 50 * i, "static", spot)
        for i, (image, frames, spot) in enumerate(zip(stills, LENGTHS, focus, strict=True))
    ]
    path = tmp_path_factory.mktemp("census") / "film.mp4"
    return make_film(path, specs, fps="25", size=(640, 360), audio=False)


@pytest.mark.parametrize("decoder", ["parallel", "in order"])
def test_census_counts_known_faces_per_shot(
    film: Path, decoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if decoder == "in order":
        monkeypatch.setattr(detect, "table_of", _no_table)
    census = FaceCensus()
    shots = detect_shots(film, sampler=census)
    assert shots == detect_shots(film)  # the census changes nothing in the shot list
    counted = census.census(shots)
    assert counted.every == 12 and sorted(census.counts) == list(range(0, sum(LENGTHS), 12))
    assert [s.faces for s in counted.shots] == FACES
    assert [s.samples for s in counted.shots][3] == 0
    assert counted.detector == "centerface" and counted.fits(shots)


def _no_table(scan: PacketScan) -> FrameTable:
    raise SegmentError("decode in order")


def test_cli_census_leaves_the_shot_list_as_it_was(film: Path, tmp_path: Path) -> None:
    plain, with_census, census = (tmp_path / n for n in ("a.json", "b.json", "census.json"))
    assert cli.main(["detect-shots", str(film), "--out", str(plain)]) == 0
    assert not census.exists()
    args = ["detect-shots", str(film), "--out", str(with_census), "--census", str(census)]
    assert cli.main(args) == 0
    assert json.loads(plain.read_text()) == detect_shots(film).model_dump()
    assert plain.read_bytes() == with_census.read_bytes()
    counted = Census.model_validate_json(census.read_text())
    assert [s.faces for s in counted.shots] == FACES


def test_rotated_film_is_counted_upright(film: Path, tmp_path: Path) -> None:
    # Stored on its side (turned clockwise), shown upright: the tag turns it back (probe: 90).
    sideways, rotated = tmp_path / "sideways.mp4", tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(film), "-vf", "transpose=1",
                    "-c:v", "libx264", "-crf", "18", str(sideways)], check=True)  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(sideways), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)  # fmt: skip
    census = FaceCensus()
    shots = detect_shots(rotated, sampler=census)
    assert [s.faces for s in census.census(shots).shots] == FACES


class _Broken:
    seconds, width = 0.5, 320

    def start(self, every: int) -> None:
        pass

    def take(self, index: int, frame: np.ndarray) -> None:
        raise RuntimeError("detector lost")


def test_a_failing_census_fails_the_stage_without_hanging(film: Path) -> None:
    with pytest.raises(RuntimeError, match="detector lost"):
        detect_shots(film, sampler=_Broken())


def _shots(specs: list[tuple[int, int]]) -> ShotList:
    """(length, transition frames) per shot."""
    shots, start = [], 0
    for i, (length, transition) in enumerate(specs):
        kind = "dissolve" if transition else "cut"
        shots.append(Shot(index=i, start_frame=start, end_frame=start + length,
                          transition=kind, transition_frames=transition))  # fmt: skip
        start += length
    return ShotList(fps="25", frame_count=start, shots=shots)


def test_a_shot_takes_a_high_count_of_its_clear_samples() -> None:
    shots = _shots([(30, 0), (40, 8), (10, 0), (200, 0), (90, 0)])
    counts = {
        0: 1, 20: 1,  # shot 0: one face
        30: 3, 40: 0, 60: 2,  # shot 1: 30 lies in its dissolve (both shots show), not counted
        # shot 2 (70-80): no sample
        **{f: 1 for f in range(80, 280, 10)}, 150: 4,  # one stray detection among 20 samples
        **{f: 1 for f in range(280, 370, 10)}, 300: 3,  # 9 samples: the highest counts
    }  # fmt: skip
    faces = shot_faces(shots, counts)
    assert [(s.faces, s.samples) for s in faces] == [(1, 2), (2, 2), (1, 0), (1, 20), (3, 9)]


def test_only_dissolve_samples_still_count() -> None:
    shots = _shots([(30, 0), (12, 12)])
    assert [s.faces for s in shot_faces(shots, {0: 0, 31: 2})] == [0, 2]
