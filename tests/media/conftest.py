"""Generated films shared by the media tests (no external media)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.samples import make_film, varied_shots

FILM_SHOTS = [20, 14, 18, 12]
FILM_FPS = "24000/1001"


@pytest.fixture(scope="session")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-frame, 4-shot H.264/AAC MP4 at 23.976 fps, 320x180."""
    path = tmp_path_factory.mktemp("film") / "film.mp4"
    return make_film(path, varied_shots(FILM_SHOTS), fps=FILM_FPS, size=(320, 180))


@pytest.fixture
def text_as_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a film\n" * 20)
    return path


@pytest.fixture
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path
