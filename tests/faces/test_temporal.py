"""Tracks across frames: steady keypoints, one identity decision per track, stable selection."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_samples import person, portrait
from skimage import data

from tasks.faces import FaceEngine, Mapping
from tasks.faces import engine as engine_module
from tasks.faces.detect import Face
from tasks.faces.flicker import FlickerMeter
from tasks.faces.track import Tracker
from tasks.spec import FaceMapping, SpecError

SIDE = 320


def _face(x: float, y: float, size: float = 100.0, jitter: np.ndarray | None = None) -> Face:
    kps = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], dtype=np.float32)
    kps = kps * size + [x, y]
    if jitter is not None:
        kps = kps + jitter
    return Face(bbox=(x, y, x + size, y + size), kps=kps.astype(np.float32), score=0.9)


def test_tracks_follow_moving_faces_and_end_at_a_cut() -> None:
    tracker = Tracker()
    first = tracker.update([_face(0, 0), _face(300, 0)], 0)
    second = tracker.update([_face(310, 5), _face(8, 4)], 1)
    assert [t.id for t, _ in second] == [first[1][0].id, first[0][0].id]
    tracker.reset()
    third = tracker.update([_face(8, 4)], 2)
    assert third[0][0].id not in {t.id for t, _ in first}


def test_keypoints_of_a_still_face_are_steadied() -> None:
    rng = np.random.default_rng(0)
    tracker = Tracker()
    raw, smooth = [], []
    for frame in range(40):
        face = _face(100, 100, jitter=rng.normal(0, 1.5, (5, 2)))
        raw.append(face.kps)
        smooth.append(tracker.update([face], frame)[0][1].kps)
    assert np.std(smooth[5:], axis=0).mean() < 0.6 * np.std(raw[5:], axis=0).mean()


def test_a_moving_face_is_followed_without_lag_building_up() -> None:
    tracker = Tracker()
    for frame in range(30):
        out = tracker.update([_face(100 + 6 * frame, 100)], frame)[0][1]
    assert abs(out.kps[0, 0] - (_face(100 + 6 * 29, 100).kps[0, 0])) < 3


@pytest.mark.parametrize(("speed", "hidden"), [(15, 2), (20, 1), (20, 2), (30, 2), (40, 1)])
def test_people_crossing_keep_their_tracks_when_one_passes_behind(speed: int, hidden: int) -> None:
    """A walks right, B walks left a little lower and passes behind A (unseen for `hidden`
    frames as they meet at frame 20): each keeps the track it started with, and both are
    flagged for an identity re-check."""
    tracker = Tracker()
    owners: dict[str, set[int]] = {"a": set(), "b": set()}
    rechecked = set()
    for frame in range(40):
        a, b = speed * frame, 40 * speed - speed * frame
        behind = 20 - hidden // 2 <= frame < 20 - hidden // 2 + hidden
        people = [("a", _face(a, 50))] + ([] if behind else [("b", _face(b, 60))])
        out = tracker.update([face for _, face in people], frame)
        for (who, _), (track, _) in zip(people, out, strict=True):
            owners[who].add(track.id)
            if track.recheck:
                rechecked.add(who)
                track.recheck = False
    assert len(owners["a"]) == len(owners["b"]) == 1 and owners["a"] != owners["b"]
    assert rechecked == {"a", "b"}


SCENE_W, SCENE_H, TILE_W, TILE_H = 480, 180, 110, 132


def _walk(frame: int, frames: int, turn_back: bool) -> tuple[int, int]:
    """Left edges of the astronaut's and Matt's tiles: they walk past each other, or meet in
    the middle and turn back."""
    t = frame / (frames - 1)
    if turn_back:
        t = min(frame, frames - 1 - frame) / (frames / 2 - 1) / 2
    travel = SCENE_W - TILE_W - 20
    return int(10 + t * travel), int(SCENE_W - TILE_W - 10 - t * travel)


@pytest.mark.parametrize("turn_back", [False, True], ids=["walk-past", "turn-back"])
def test_people_crossing_keep_their_face_mapping(
    t1: np.ndarray, lisa: np.ndarray, turn_back: bool
) -> None:
    """The astronaut (-> Lisa) walks in front of Matt (-> another t1 person), who is hidden for
    two frames while they overlap. Matching on the last box handed Matt's track to the astronaut
    after a walk-past; prediction hands it over when they turn back, and Matt's face is still
    half hidden when they part: the identity re-checks (and handing the mappings back) keep
    every written face on its own mapping, in every frame."""
    astronaut, matt = data.astronaut(), person(t1, 3)
    tiles = [cv2.resize(portrait(img), (TILE_W, TILE_H)) for img in (astronaut, matt)]
    refs = [np.ascontiguousarray(img[:, ::-1]) for img in (astronaut, matt)]
    engine = FaceEngine(
        [Mapping(source=lisa, reference=refs[0]), Mapping(source=person(t1, 1), reference=refs[1])]
    )
    frames, lefts = [], []
    for frame in range(16):
        xa, xm = _walk(frame, 16, turn_back)
        canvas = np.full((SCENE_H, SCENE_W, 3), 60, np.uint8)
        canvas[20 : 20 + TILE_H, xm : xm + TILE_W] = tiles[1]  # Matt behind
        canvas[20 : 20 + TILE_H, xa : xa + TILE_W] = tiles[0]
        frames.append(canvas)
        lefts.append((xa, xm))
    written = []
    for (xa, xm), result in zip(lefts, engine.process_batch(frames), strict=True):
        # A half-hidden face may read as turned away: left for a compositor, not written.
        assert result.faces_swapped + len(result.compositor) == result.faces_found
        for face, mapping in zip(result.swapped, result.mappings, strict=True):
            centre = (face.bbox[0] + face.bbox[2]) / 2
            nearest = min((0, 1), key=lambda k: abs(centre - (xa, xm)[k] - TILE_W / 2))
            written.append((nearest, mapping))
    assert {who for who, _ in written} == {0, 1}
    assert [m for _, m in written] == [who for who, _ in written]


@pytest.fixture(scope="module")
def pair(t1: np.ndarray) -> np.ndarray:
    left = cv2.resize(data.astronaut(), (SIDE, SIDE))
    return np.hstack([left, cv2.resize(person(t1, 3), (SIDE, SIDE))])


def test_identity_is_computed_once_per_track(
    pair: np.ndarray, lisa: np.ndarray, t1: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = engine_module.embed_face

    def counting(image: np.ndarray, face: Face) -> np.ndarray:
        calls.append(face)
        return real(image, face)

    matt_ref = np.ascontiguousarray(person(t1, 3)[:, ::-1])
    engine = FaceEngine([Mapping(source=lisa, reference=matt_ref)])
    monkeypatch.setattr(engine_module, "embed_face", counting)
    frames = [np.roll(pair, shift, axis=1) for shift in range(0, 8, 2)]
    results = engine.process_batch(frames)
    assert len(calls) == 2  # two tracks; the unmatched one is not re-checked within 12 frames
    assert [r.faces_swapped for r in results] == [1, 1, 1, 1]
    assert len({r.tracks for r in results}) == 1


def test_an_unmatched_face_is_checked_again_when_it_shows_more_not_less(
    lisa: np.ndarray,
) -> None:
    """An unmatched track's look jumps: checked again if its face is as large as when last
    checked, not once it is smaller (leaving the frame): that shows less than before."""
    from tasks.faces.track import Track

    engine = FaceEngine([Mapping(source=lisa, reference=lisa)])
    track = Track(id=0, face=_face(10, 10), last_frame=0, checked_frame=0, checked_width=100.0)
    track.look = np.zeros((16, 16), np.float32)
    jumped = np.ones((16, 16), np.float32)
    assert engine._changed(track, jumped, _face(10, 10, 95.0), 1)
    assert not engine._changed(track, jumped, _face(10, 10, 80.0), 1)
    assert engine._changed(track, jumped, _face(10, 10, 150.0), 1)  # grown: more to see


def test_largest_selects_one_face_and_holds_it(lisa: np.ndarray, t1: np.ndarray) -> None:
    small = cv2.resize(data.astronaut(), (SIDE // 2, SIDE // 2))
    frame = np.zeros((SIDE, SIDE + SIDE // 2, 3), np.uint8)
    frame[:, :SIDE] = cv2.resize(person(t1, 3), (SIDE, SIDE))
    frame[: SIDE // 2, SIDE:] = small
    result = FaceEngine([Mapping(source=lisa, select="largest")]).process(frame)
    assert (result.faces_found, result.faces_swapped) == (2, 1)
    assert np.array_equal(result.frame[:, SIDE:], frame[:, SIDE:])


def test_select_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="select=reference needs a reference"):
        FaceMapping(source="s3://b/a.png", select="reference")
    with pytest.raises(ValueError, match="select=largest takes no reference"):
        FaceMapping(source="s3://b/a.png", reference="s3://b/r.png", select="largest")
    assert FaceMapping(source="s3://b/a.png", select="largest").select == "largest"
    grey = np.full((64, 64, 3), 100, np.uint8)
    with pytest.raises(SpecError, match="select=reference needs a reference"):
        FaceEngine([Mapping(source=grey, select="reference")])


def test_flicker_compares_output_change_with_source_change() -> None:
    face = _face(10, 10, size=40)
    rng = np.random.default_rng(1)
    still = np.full((80, 80, 3), 100, np.uint8)
    meter = FlickerMeter()
    for _ in range(5):
        noisy = np.clip(still + rng.integers(-20, 20, still.shape), 0, 255).astype(np.uint8)
        meter.add(still, noisy, {0: face})
    shimmer = meter.figure()
    assert shimmer is not None and shimmer > 10

    steady = FlickerMeter()
    ramp = np.broadcast_to(np.arange(0, 240, 3, dtype=np.uint8)[None, :, None], still.shape)
    frames = [np.ascontiguousarray(np.roll(ramp, 2 * s, axis=1)) for s in range(5)]
    for frame in frames:
        steady.add(frame, frame, {0: face})
    assert steady.figure() == pytest.approx(1.0)
    assert FlickerMeter().figure() is None
