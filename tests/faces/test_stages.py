"""The swap and restore stages as pods run them: unit in, unit out, a small JSON result."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from contract_models import gfpgan_available
from face_samples import person
from skimage import data

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter, read_frames
from tasks.spec import (
    FaceMapping,
    RenderSpec,
    Shot,
    ShotList,
    SpecError,
    Unit,
    UnitPlan,
    UnitResult,
)
from tasks.stages import check_faces, restore, swap

UNIT = "u0000-0123abcd"
FACE_FRAMES, EMPTY_FRAMES = 6, 3


def _frames(t1: np.ndarray) -> list[np.ndarray]:
    pair = np.hstack(
        [cv2.resize(data.astronaut(), (240, 240)), cv2.resize(person(t1, 3), (240, 240))]
    )
    moving = [np.ascontiguousarray(np.roll(pair, 2 * i, axis=1)) for i in range(FACE_FRAMES)]
    return moving + [np.full_like(pair, 40 + i) for i in range(EMPTY_FRAMES)]


def _run(tmp: Path, t1: np.ndarray, lisa: np.ndarray, **spec: object) -> RunLayout:
    layout = RunLayout(str(tmp / "run"))
    source = tmp / "lisa.png"
    cv2.imwrite(str(source), cv2.cvtColor(lisa, cv2.COLOR_RGB2BGR))
    render = RenderSpec(asset=str(tmp / "film.mp4"), faces=[FaceMapping(source=str(source))])
    storage.write_json(layout.spec, render.model_copy(update=spec).to_json())
    total = FACE_FRAMES + EMPTY_FRAMES
    shots = ShotList(
        fps="24",
        frame_count=total,
        shots=[Shot(index=0, start_frame=0, end_frame=FACE_FRAMES),
               Shot(index=1, start_frame=FACE_FRAMES, end_frame=total)],
    )  # fmt: skip
    storage.write_json(layout.shots, shots.to_json())
    unit = Unit(id=UNIT, index=0, start_frame=0, end_frame=total, shots=[0, 1])
    storage.write_json(layout.plan, UnitPlan(fps="24", frame_count=total, units=[unit]).to_json())
    frames = _frames(t1)
    Path(layout.unit_source(UNIT)).parent.mkdir(parents=True)
    with FrameWriter(Path(layout.unit_source(UNIT)), 480, 240, "24") as writer:
        for frame in frames:
            writer.write(frame)
    return layout


def _read(uri: str) -> list[np.ndarray]:
    return list(read_frames(Path(uri)))


def test_swap_stage_reports_per_shot_and_passes_empty_frames_through(
    tmp_path: Path, t1: np.ndarray, lisa: np.ndarray, monkeypatch: pytest.MonkeyPatch, neural: bool
) -> None:
    monkeypatch.setenv("RECAST_FACE_BATCH", "4")
    layout = _run(tmp_path, t1, lisa)
    result = UnitResult.model_validate(swap.run(layout.prefix, UNIT))
    assert result.backend == ("neural" if neural else "offline")
    assert (result.frames, result.faces_found, result.faces_swapped) == (9, 12, 12)
    shot0, shot1 = result.per_shot
    assert (shot0.faces_swapped, shot1.faces_found, shot1.faces_swapped) == (12, 0, 0)
    assert shot0.flicker is not None and 0 < shot0.flicker < 5 and shot1.flicker is None
    assert result.efficiency is not None and 0 < result.efficiency <= 1.0
    assert {"detect", "swap", "decode", "encode", "pipeline"} <= set(result.timings)

    before, after = _read(layout.unit_source(UNIT)), _read(layout.unit_swapped(UNIT))
    assert all(not np.array_equal(b, a) for b, a in zip(before[:6], after[:6], strict=True))
    assert all(np.array_equal(b, a) for b, a in zip(before[6:], after[6:], strict=True))
    faces = json.loads(Path(layout.unit(UNIT, swap.FACES_LOG)).read_text())["frames"]
    assert sorted(map(int, faces)) == list(range(FACE_FRAMES))
    assert {e["mapping"] for f in faces.values() for e in f} == {0}  # the only mapping wrote all


@pytest.mark.skipif(not gfpgan_available(), reason="GFPGAN needs torch and gfpgan")
def test_restore_stage_restores_exactly_the_swapped_faces(
    tmp_path: Path,
    t1: np.ndarray,
    lisa: np.ndarray,
    store_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layout = _run(tmp_path, t1, lisa, restore="gfpgan", restore_strength=0.7)
    swap.run(layout.prefix, UNIT)
    with pytest.raises(SpecError, match="needs restoration weights from a model store"):
        restore.run(layout.prefix, UNIT)

    monkeypatch.setenv("RECAST_MODELS", str(store_dir))
    result = UnitResult.model_validate(restore.run(layout.prefix, UNIT))
    assert (result.stage, result.frames, result.faces_restored) == ("restore", 9, 12)
    assert result.efficiency is not None and result.timings["restore"] > 0
    swapped, restored = _read(layout.unit_swapped(UNIT)), _read(layout.unit_restored(UNIT))
    assert all(not np.array_equal(s, r) for s, r in zip(swapped[:6], restored[:6], strict=True))
    assert all(np.array_equal(s, r) for s, r in zip(swapped[6:], restored[6:], strict=True))


def test_restore_none_is_a_copy(tmp_path: Path, t1: np.ndarray, lisa: np.ndarray) -> None:
    layout = _run(tmp_path, t1, lisa)
    swap.run(layout.prefix, UNIT)
    restore.run(layout.prefix, UNIT)
    assert (
        Path(layout.unit_restored(UNIT)).read_bytes()
        == Path(layout.unit_swapped(UNIT)).read_bytes()
    )


def test_check_faces_refuses_a_source_without_a_face(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((200, 200, 3), 128, np.uint8))
    spec = RenderSpec(asset=str(tmp_path / "film.mp4"), faces=[FaceMapping(source=str(grey))])
    storage.write_json(str(tmp_path / "spec.json"), spec.to_json())
    with pytest.raises(SpecError, match="face source 1: no face found"):
        check_faces.run(str(tmp_path / "spec.json"))
