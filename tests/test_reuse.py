"""Reuse across versions of a cut (tasks.reuse) through the real stages, S3 API and video.

v1 is a four-shot film; v2 re-encodes it with other x264 settings, moves shot 2 first and
trims it, keeps shot 0, drops shot 1, trims shot 3 and adds a shot never rendered."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skimage import data

from recast.samples import ShotSpec, make_film, varied_shots
from tasks import reuse, reuse_copy, storage
from tasks.checkpoint import OutputRecord
from tasks.layout import RunLayout
from tasks.qc.report import shot_rows
from tasks.reuse import (
    _READ,
    INDEX,
    changed,
    headline,
    keeps_closeness,
    load_records,
    local_file,
    seal,
    settings_key,
    summary,
    tile_psnr,
)
from tasks.shots import fingerprint
from tasks.shots.detect import detect_shots
from tasks.spec import ShotList
from tasks.stages import plan, probe, split, swap
from tests.versions import (
    decode,
    encode,
    other_take,
    per_shot,
    render,
    save_png,
    swapped_frames,
)

V1 = [24, 20, 24, 16]  # astronaut (face), coffee, camera (face), chelsea
SIZE = (320, 180)


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("versions")
    v1 = make_film(tmp / "v1.mp4", varied_shots(V1), size=SIZE, audio=False)
    f = decode(v1)
    rocket = ShotSpec(data.rocket(), 14, 300.0, "zoom")
    new = decode(make_film(tmp / "new.mp4", [rocket], size=SIZE, audio=False))
    # shot 2 trimmed (48..64), shot 0 whole, shot 3 trimmed (68..80), a new shot (a rocket)
    v2 = encode(f[48:64] + f[0:24] + f[68:80] + new, tmp / "v2.mp4", crf=26)
    return {"tmp": tmp, "v1": v1, "v2": v2, "v1_frames": f}


@pytest.fixture
def spec(bucket: str, films: dict[str, Any]) -> dict[str, Any]:
    face = save_png(data.astronaut(), films["tmp"] / "astronaut.png")
    return {
        "faces": [{"source": storage.upload(face, f"s3://{bucket}/faces/astronaut.png")}],
        "consent_reference": "REL-1",
    }


def test_fingerprints_survive_a_re_encode(films: dict[str, Any]) -> None:
    one, two = detect_shots(films["v1"]), detect_shots(films["v2"])
    assert [s.frames for s in two.shots] == [16, 24, 12, 14]
    assert all(s.fingerprint for s in one.shots + two.shots)
    a = fingerprint.decode(one.shots[0].fingerprint or "")
    b = fingerprint.decode(two.shots[1].fingerprint or "")
    assert len(a) == len(b) == 24 and fingerprint.distances(a, b).diagonal().max() <= 4


def test_v2_reuses_moved_and_trimmed_shots_and_computes_the_new_one(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], tmp_path: Path
) -> None:
    first, _ = render(films["v1"], bucket, "v1", spec)
    second, swaps = render(films["v2"], bucket, "v2", spec)
    shots = per_shot(swaps)
    assert [shots[i]["frames_reused"] for i in range(4)] == [16, 24, 12, 0]
    assert [shots[i]["reused_from"] for i in range(4)] == ["v1", "v1", "v1", None]
    assert swaps[0]["frames_reused"] == 52
    old, new = swapped_frames(first, tmp_path), swapped_frames(second, tmp_path)
    # Reused frames: where the earlier render changed its source (the faces) its pixels at
    # their new places (within the unit's YUV: both written in the source's yuv420p); beyond 8
    # pixels around their box, v2's own source frame bit for bit.
    was, now = films["v1_frames"], decode(films["v2"])
    moved = [(i, 48 + i) for i in range(16)] + [(16 + i, i) for i in range(24)]
    for n, o in [*moved, *((40 + i, 68 + i) for i in range(12))]:
        changed = np.any(old[o] != was[o], axis=2)
        if changed.any():
            assert y_psnr(new[n][changed], old[o][changed]) > 36.0
        near = np.zeros_like(changed)  # the box around the faces, and 8 pixels beyond it
        if changed.any():
            (y0, x0), (y1, x1) = np.argwhere(changed).min(0), np.argwhere(changed).max(0)
            near[max(0, y0 - 8) : y1 + 9, max(0, x0 - 8) : x1 + 9] = True
        assert np.array_equal(new[n][~near], now[n][~near])
    assert sum(np.any(old[o] != was[o]) for _, o in moved) >= 24  # faces were there to take
    counts = {s["shot"]: (s["faces_found"], s["faces_swapped"]) for s in swaps[0]["per_shot"]}
    assert counts[1] == (24, 24) and counts[3] == (0, 0)  # reused faces are counted as logged
    told = summary(swaps)
    assert (told["shots_reused"], told["shots"], told["frames_reused"]) == (3, 4, 52)
    assert headline(told).startswith("reused 3 of 4 shots (52 of 66 frames; from run v1)")
    rows = shot_rows(ShotList.model_validate(storage.read_json(second.shots)), swaps)
    assert [(r["frames_reused"], r["reused_from"]) for r in rows][2:] == [(12, "v1"), (0, None)]


def test_a_near_duplicate_take_is_not_reused(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], tmp_path: Path
) -> None:
    f = films["v1_frames"]
    render(encode(f[:24], tmp_path / "take1.mp4"), bucket, "take1", spec)
    take2 = encode(other_take(f[:24], (140, 40, 40, 40)), tmp_path / "take2.mp4")
    # Same framing: the fingerprints agree, the source frames do not.
    a = fingerprint.decode(detect_shots(take2).shots[0].fingerprint or "")
    b = fingerprint.decode(detect_shots(tmp_path / "take1.mp4").shots[0].fingerprint or "")
    assert fingerprint.distances(a, b).diagonal().mean() <= 8
    assert tile_psnr(f[0], other_take(f[:1], (140, 40, 40, 40))[0]) < 30
    _, swaps = render(take2, bucket, "take2", spec)
    assert per_shot(swaps)[0]["frames_reused"] == 0


def test_changed_settings_or_models_never_reuse(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    film = encode(films["v1_frames"][:24], films["tmp"] / "short.mp4")
    render(film, bucket, "base", spec)
    _, other = render(film, bucket, "threshold", {**spec, "match_threshold": 0.5})
    assert sum(s["frames_reused"] for s in other) == 0
    _, off = render(film, bucket, "off", {**spec, "reuse": False})
    assert sum(s["frames_reused"] for s in off) == 0
    # Another model (as the unit key sees it) gives another settings key: nothing shared.
    from tasks import unit_keys

    inputs = {"faces": [], "models": unit_keys.models(unit_keys.SWAP_MODELS)}
    changed = {**inputs, "models": {**inputs["models"], "store": {"inswapper": {"sha256": "0"}}}}
    assert settings_key(inputs) != settings_key(changed)


def test_repeated_material_in_one_film_is_computed_once(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], tmp_path: Path
) -> None:
    f = films["v1_frames"]
    film = encode(f[:24] + f[44:68] + f[:24], tmp_path / "reprise.mp4")
    layout, swaps = render(film, bucket, "reprise", {**spec, "unit_frames": 24})
    assert [s["frames_reused"] for s in swaps] == [0, 0, 24]
    frames, source = swapped_frames(layout, tmp_path), decode(film)
    for i in range(24):  # the reprise carries the first occurrence's faces (both in yuv420p)
        changed = np.any(frames[i] != source[i], axis=2)
        assert changed.any() and y_psnr(frames[48 + i][changed], frames[i][changed]) > 36.0


@pytest.mark.parametrize("part", ["checks", "faces"])
def test_a_corrupted_entry_is_recomputed_never_used(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], tmp_path: Path, part: str
) -> None:
    render(films["v1"], bucket, "v1", spec)
    settings = storage.list_uris(f"s3://{bucket}/cache/shots")[0].split("/")[-2]
    (record,) = load_records(f"s3://{bucket}/cache/shots/{settings}")
    # A half-written file of the entry that reuse reads: the same key, a truncated body.
    entry = getattr(record, part)
    good = storage.read_bytes(entry.uri)
    storage.write_bytes(entry.uri, good[: len(good) // 2])
    second, swaps = render(films["v2"], bucket, "v2", spec)
    assert sum(s["frames_reused"] for s in swaps) == 0
    frames = swapped_frames(second, tmp_path)
    assert len(frames) == 66 and not np.array_equal(frames[0], np.zeros_like(frames[0]))


def test_two_concurrent_renders_reuse_the_same_entries(
    bucket: str, spec: dict[str, Any], films: dict[str, Any], tmp_path: Path
) -> None:
    render(films["v1"], bucket, "v1", spec)
    results: dict[str, list[dict[str, Any]]] = {}
    errors: list[BaseException] = []

    def go(run: str) -> None:
        try:
            results[run] = render(films["v2"], bucket, run, spec)[1]
        except BaseException as exc:  # raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(r,)) for r in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [results[r][0]["frames_reused"] for r in ("a", "b")] == [52, 52]
    a, b = (swapped_frames(RunLayout(f"s3://{bucket}/runs/{r}"), tmp_path) for r in "ab")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_finished_run_is_read_from_one_index(
    bucket: str, spec: dict[str, Any], films: dict[str, Any]
) -> None:
    layout, _ = render(films["v1"], bucket, "v1", spec)
    (index,) = seal(layout)  # what assemble does once every unit is done
    prefix = index.rsplit(f"/{INDEX}/", 1)[0]
    records = load_records(prefix)
    assert [r.run for r in records] == ["v1"]
    for uri in storage.list_uris(prefix):  # the unit's own record gone: the index holds it
        if f"/{INDEX}/" not in uri:
            storage.delete(uri)
    _READ.clear()
    assert load_records(prefix) == records


def test_an_entry_file_is_checked_once_in_place_and_again_when_it_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "swapped.mkv"
    path.write_bytes(b"frames" * 100)
    rec = OutputRecord(uri=str(path), sha256=storage.sha256_file(path), size=600)
    assert local_file(rec) == path  # a local work area: read where it lies, not copied
    path.write_bytes(b"frames" * 50)  # half written after the check
    with pytest.raises(ValueError, match="fails its sha256"):
        local_file(rec)


def test_a_face_on_another_picture_is_not_laid_on() -> None:
    picture = data.astronaut()[::4, ::4]  # 128 x 128, her face near (60, 25)
    earlier = picture[:96, 16:112].copy()
    output = earlier.copy()
    face = (slice(8, 56), slice(24, 72))
    output[face] = np.clip(earlier[face].astype(int) + 12, 0, 255)  # what the swap wrote
    mask = changed(output, earlier)
    assert mask.sum() > 2000
    rng = np.random.default_rng(0)
    noise = rng.integers(-2, 3, earlier.shape)
    re_encoded = np.clip(earlier.astype(int) + noise, 0, 255).astype(np.uint8)
    assert keeps_closeness(output, earlier, re_encoded, mask)
    moved = picture[6:102, 22:118]  # the same framing a few pixels on: another picture
    assert not keeps_closeness(output, earlier, moved, mask)


def test_units_side_by_side_compute_repeated_material_once(
    bucket: str,
    spec: dict[str, Any],
    films: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on a cluster: the reprise's unit starts first, waits for the unit that has the
    first occurrence, then takes its frames."""
    f = films["v1_frames"]
    film = encode(f[:24] + f[44:68] + f[:24], tmp_path / "reprise.mp4")
    layout = RunLayout(f"s3://{bucket}/runs/side")
    asset = storage.upload(film, f"s3://{bucket}/in/side.mp4")
    storage.write_json(layout.spec, {**spec, "asset": asset, "unit_frames": 24})
    probe.run(asset, layout.probe)
    storage.write_json(layout.shots, detect_shots(film).model_dump())
    units = plan.run(layout.prefix)["units"]
    split.run(asset, layout.prefix)
    monkeypatch.setattr(reuse, "WAIT_POLL", 0.2)
    results: dict[str, dict[str, Any]] = {}

    def go(unit: str) -> None:
        results[unit] = swap.run(layout.prefix, unit)

    threads = [threading.Thread(target=go, args=(u,)) for u in reversed(units)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[u]["frames_reused"] for u in units] == [0, 0, 24]


def _packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def test_a_copied_frame_is_the_earlier_output_packet_byte_for_byte(
    bucket: str,
    spec: dict[str, Any],
    films: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the estimated loss allows (here: any loss), a reused face frame is the earlier
    unit's FFV1 packet, copied: the same bytes, so the same pixels, and its faces logged."""
    monkeypatch.setattr(reuse_copy, "COPY_LOSS_DB", 60.0)
    first, _ = render(films["v1"], bucket, "v1", spec)
    second, swaps = render(films["v2"], bucket, "v2", spec)
    assert [per_shot(swaps)[i]["frames_reused"] for i in range(4)] == [16, 24, 12, 0]
    (a,) = [storage.download(first.unit_swapped(u), tmp_path / "a.mkv") for u in _units(first)]
    (b,) = [storage.download(second.unit_swapped(u), tmp_path / "b.mkv") for u in _units(second)]
    old, new = _packets(a), _packets(b)
    logged = storage.read_json(first.unit(_units(first)[0], "faces.json"))["frames"]
    mine = storage.read_json(second.unit(_units(second)[0], "faces.json"))
    moved = [(i, 48 + i) for i in range(16)] + [(16 + i, i) for i in range(24)]
    copied = [(n, o) for n, o in moved if logged.get(str(o))]
    assert len(copied) >= 24
    for n, o in copied:
        assert new[n] == old[o]
        assert mine["frames"][str(n)] == logged[str(o)] and n in mine["reused"]
    frames = swapped_frames(second, tmp_path)
    assert len(frames) == 66 and np.array_equal(frames[copied[0][0]], decode(a)[copied[0][1]])
    # What the unit leaves for later renders covers every frame, copied ones included.
    (record,) = [r for r in load_records(_settings(bucket)) if r.run == "v2"]
    assert record.checks is not None
    checks = reuse_copy.Checks.read(local_file(record.checks))
    assert sorted(checks.small) == list(range(66)) and all(checks.sse[n] > 0 for n, _ in copied)
    # Every frame with no face written is v2's own source picture (its unit here is x264's
    # packets, copied at split: tests/faces/test_passthrough.py has FFV1 units' packets kept).
    source = decode(storage.download(second.unit_source(_units(second)[0]), tmp_path / "s.mkv"))
    untouched = [n for n in range(66) if str(n) not in mine["frames"]]
    assert untouched and all(np.array_equal(frames[n], source[n]) for n in untouched)


def _units(layout: RunLayout) -> list[str]:
    from tasks.spec import UnitPlan

    return [u.id for u in UnitPlan.model_validate(storage.read_json(layout.plan)).units]


def _settings(bucket: str) -> str:
    settings = storage.list_uris(f"s3://{bucket}/cache/shots")[0].split("/")[-2]
    return f"s3://{bucket}/cache/shots/{settings}"


def test_check_data_lays_the_earlier_faces_only_on_the_same_picture(tmp_path: Path) -> None:
    """The faces a unit wrote, kept as a patch in its check data, are laid on a re-encode of
    its picture (and read back from the file as written), never on another picture."""
    picture = data.astronaut()[::4, ::4]
    earlier = np.ascontiguousarray(picture[:96, 16:112])
    output = earlier.copy()
    face = (slice(8, 56), slice(24, 72))
    output[face] = np.clip(earlier[face].astype(int) + 12, 0, 255)
    checks = reuse_copy.Checks()
    checks.add(0, earlier, output)
    checks.add(1, earlier, earlier)  # a frame the swap left alone
    path = checks.write(tmp_path / "a.bin", 2)
    back = reuse_copy.Checks.read(path)
    assert path.read_bytes() == checks.write(tmp_path / "b.bin", 2).read_bytes()  # deterministic
    assert back.changed[0] == int(changed(output, earlier).sum()) and back.changed[1] == 0
    noise = np.random.default_rng(0).integers(-2, 3, earlier.shape)
    re_encoded = np.clip(earlier.astype(int) + noise, 0, 255).astype(np.uint8)
    laid = back.laid(0, re_encoded)
    assert laid is not None
    mask = changed(output, earlier)
    assert np.array_equal(laid[0][mask], output[mask]) and np.array_equal(
        laid[0][~mask], re_encoded[~mask]
    )
    moved = np.ascontiguousarray(picture[6:102, 22:118])
    assert back.laid(0, moved) is None
    small = reuse_copy.block_means(reuse.luma(re_encoded).astype(np.float32))
    assert reuse_copy.tile_psnr_small(small, back.small[0]) > 40
    other = reuse_copy.block_means(reuse.luma(moved).astype(np.float32))
    assert reuse_copy.tile_psnr_small(other, back.small[0]) < 30


def _face(turn: float) -> dict[str, Any]:
    """A faces-log entry whose keypoints turn by `turn` eye distances."""
    kps = [[40.0, 50.0], [60.0, 50.0], [50.0 + 20.0 * turn, 60.0], [42.0, 70.0], [58.0, 70.0]]
    return {"track": 1, "mapping": 0, "kps": kps, "bbox": [30.0, 30.0, 70.0, 90.0]}


def test_a_face_near_the_turn_threshold_is_computed_where_its_track_starts_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trimmed head: the new unit's shot starts 10 frames into the earlier one's, so its
    first WARM_FRAMES frames have another track history. There a face the earlier render
    turned near engine.PROFILE_TURN is computed (this render may flag it, or not); a frontal
    one, or any frame past the warm-up, is reused."""
    hashes = fingerprint.encode(np.zeros(60, np.uint64))
    earlier = reuse.Record.model_construct(
        run="v1", unit="u0", pieces=[reuse.Piece(shot=0, start=0, hashes=hashes)]
    )
    new = [reuse.Piece(shot=0, start=0, hashes=fingerprint.encode(np.zeros(50, np.uint64)))]
    log = {"frames": {str(i): [_face(0.68 if i < 40 else 0.1)] for i in range(60)}}
    log["frames"]["12"] = [_face(0.2)]  # frontal: decided alike whatever the history
    got = reuse.Fetched(run="v1", source=None, output=None, faces=log)
    monkeypatch.setattr(reuse, "find", lambda records, pieces: {i: (0, i + 10) for i in range(50)})
    monkeypatch.setattr(reuse, "fetch", lambda record: got)
    plan = reuse.plan_unit([earlier], new, 30.0)
    computed = sorted(set(range(50)) - set(plan.frames))
    assert computed == [i for i in range(reuse.WARM_FRAMES) if i != 2]
    assert plan.turning == len(computed)
    assert reuse.near_turn({"needs_compositor": {"3": [{"turn": 0.81}]}}, 3)


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    luma = np.array([0.299, 0.587, 0.114])
    mse = float(((a.astype(float) @ luma - b.astype(float) @ luma) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def test_the_download_store_leaves_downloads_in_progress_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruning the store (here: everything, no room) never removes or trips on another
    render's download in progress (its `.part` file), the cause of a missing-file error seen
    with two renders in one process."""
    monkeypatch.setattr(reuse, "_STORE", [tmp_path])
    monkeypatch.setenv("RECAST_REUSE_KEEP_MB", "0")
    (tmp_path / "done").write_bytes(b"x" * 10)
    (tmp_path / ".done2.1234abcd.part").write_bytes(b"y" * 10)
    assert reuse._store() == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [".done2.1234abcd.part"]
