"""Shot-scoped re-renders (tasks.scope): a base render plus a few shots, through the real stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from skimage import data

from recast.samples import make_film, varied_shots
from tasks import scope, storage
from tasks.layout import RunLayout
from tasks.media.frames import FrameWriter
from tasks.scope import frames, problems, splice
from tasks.spec import RenderSpec, SpecError, UnitPlan
from tests.versions import decode, encode, per_shot, render, save_png

SHOTS = [24, 20, 24, 16]


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


@pytest.fixture(scope="module")
def scoped_bucket(s3_server: str) -> str:
    """One bucket for the module: the base render is made once."""
    storage.client().create_bucket(Bucket="scoped-renders")
    return "scoped-renders"


@pytest.fixture(scope="module")
def base(scoped_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bucket, tmp_path = scoped_bucket, tmp_path_factory.mktemp("scoped")
    film = make_film(tmp_path / "film.mp4", varied_shots(SHOTS), size=(320, 180), audio=False)
    face = save_png(data.astronaut(), tmp_path / "astronaut.png")
    spec = {
        "faces": [{"source": storage.upload(face, f"s3://{bucket}/faces/a.png")}],
        "consent_reference": "REL-1",
        "unit_frames": 48,  # units of two shots: a scoped shot shares its unit
        "delivery": "master",
    }
    layout, _ = render(film, bucket, "base", spec, restore_units=True)
    return {"film": film, "spec": spec, "layout": layout}


def test_a_scoped_re_render_leaves_every_other_frame_identical(
    scoped_bucket: str, base: dict[str, Any], tmp_path: Path
) -> None:
    bucket = scoped_bucket
    spec = {
        **base["spec"],
        "base_run": "base",
        "shots": [2],
        "shot_overrides": [{"shot": 0, "skip": True}],
    }
    layout, swaps = render(base["film"], bucket, "scoped", spec, restore_units=True)
    shots = per_shot(swaps)
    assert [shots[i]["reused_from"] for i in range(4)] == [None, "base", None, "base"]
    assert [shots[i]["frames_reused"] for i in range(4)] == [0, 20, 0, 16]
    old, new = base["layout"], layout
    units = UnitPlan.model_validate(storage.read_json(new.plan)).units
    assert units == UnitPlan.model_validate(storage.read_json(old.plan)).units
    for u in units:  # the mezzanine of every unshared shot, byte for byte
        if not {0, 2} & set(u.shots):
            assert storage.read_bytes(new.unit_restored(u.id)) == storage.read_bytes(
                old.unit_restored(u.id)
            )
    shot_of = [next(s for s, end in enumerate(np.cumsum(SHOTS)) if f < end) for f in range(84)]
    for u in units:  # in shared units too: the other shots' frames keep the base's packets
        mine, theirs = (
            _packets(storage.download(x.unit_restored(u.id), tmp_path / f"{u.id}-{i}.mkv"))
            for i, x in enumerate((new, old))
        )
        kept = [f - u.start_frame for f in range(u.start_frame, u.end_frame)
                if shot_of[f] not in {0, 2}]  # fmt: skip
        assert [mine[f] for f in kept] == [theirs[f] for f in kept]
    master = [
        _packets(storage.download(x.master, tmp_path / f"{i}.mov"))
        for i, x in enumerate((old, new))
    ]
    assert len(master[0]) == len(master[1]) == sum(SHOTS)
    same = [i for i in range(sum(SHOTS)) if master[0][i] == master[1][i]]
    assert set(range(24, 44)) | set(range(68, 84)) <= set(same)  # shots 1 and 3, bit-exact
    # Shot 0 skipped: the source's own frames (swapped in the base).
    film = decode(storage.download(new.film, tmp_path / "film.mp4"))
    source = decode(base["film"])
    assert np.abs(film[5].astype(int) - source[5]).mean() < 2.0
    assert master[0][5] != master[1][5]


def test_refused_early_and_clearly(
    scoped_bucket: str, base: dict[str, Any], tmp_path: Path
) -> None:
    bucket = scoped_bucket
    spec = {**base["spec"], "asset": f"s3://{bucket}/in/base.mp4"}
    run = f"s3://{bucket}/runs/new"

    def told(**extra: Any) -> list[str]:
        return problems(RenderSpec.parse({**spec, **extra}), run)

    assert told(base_run="nope", shots=[1]) == [
        f"base_run 'nope': no published render of that name (s3://{bucket}/runs/nope)"
    ]
    assert told(base_run="base", shots=[1, 7]) == [
        "shots: shot 7 is out of range: the base render base has 4 shots (0-3)"
    ]
    assert told(base_run="base", shots=["00:00:09:00-00:00:10:00"])[0].startswith(
        "shots: 00:00:09:00-00:00:10:00 selects no shot"
    )
    assert told(base_run="base", shots=["00:00:01:00-00:00:01:12"]) == []
    with pytest.raises(SpecError, match="set base_run"):
        RenderSpec.parse({**spec, "shots": [1]})
    # Another film as the asset: refused by plan, before split or any unit.
    other = encode(decode(base["film"])[::-1], tmp_path / "other.mp4")
    with pytest.raises(SpecError, match="not the film of the base render base"):
        render(other, bucket, "other", {**base["spec"], "base_run": "base", "shots": [1]})
    assert not storage.exists(RunLayout(f"s3://{bucket}/runs/other").plan)


def test_timecodes_count_frames_drop_frame_included() -> None:
    assert frames("00:00:01:12", "24", None) == 36
    assert frames("01:00:01:00", "24", "01:00:00:00") == 24
    assert frames("00:01:00;02", "30000/1001", None) == 1800
    assert frames("00:10:00;00", "30000/1001", None) == 17982
    with pytest.raises(ValueError, match="before the film's start"):
        frames("00:00:00:00", "24", "01:00:00:00")


def test_splice_keeps_the_base_packets_and_refuses_another_format(tmp_path: Path) -> None:
    frames = [np.full((36, 64, 3), v, np.uint8) for v in range(0, 200, 20)]

    def unit(name: str, pictures: list[np.ndarray]) -> Path:
        with FrameWriter(tmp_path / name, pictures[0].shape[1], pictures[0].shape[0], "24") as w:
            for f in pictures:
                w.write(f)
        return tmp_path / name

    base = unit("base.mkv", frames)
    computed = unit("computed.mkv", [255 - f for f in frames[3:5]])
    picks = [i in (3, 4) for i in range(10)]
    assert splice(base, computed, picks, tmp_path / "out.mkv")
    got = decode(tmp_path / "out.mkv")
    assert [int(f[0, 0, 0]) for f in got] == [0, 20, 40, 195, 175, 100, 120, 140, 160, 180]
    kept = [i for i in range(10) if not picks[i]]
    out, old = _packets(tmp_path / "out.mkv"), _packets(base)
    assert [out[i] for i in kept] == [old[i] for i in kept]
    other = unit("other.mkv", [f[:, :32] for f in frames[3:5]])  # another size
    assert not splice(base, other, picks, tmp_path / "no.mkv")
    assert not (tmp_path / "no.mkv").exists()


def test_without_a_splice_the_other_frames_are_still_the_base_s(
    scoped_bucket: str, base: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base unit that cannot be spliced (another codec configuration): the touched unit is
    decoded and written again, losslessly, so the other shots' pixels are still the base's."""
    monkeypatch.setattr(scope, "splice", lambda *args: False)
    spec = {**base["spec"], "base_run": "base", "shots": [2]}
    layout, swaps = render(base["film"], scoped_bucket, "unspliced", spec, restore_units=True)
    assert [per_shot(swaps)[i]["frames_reused"] for i in (1, 2, 3)] == [20, 0, 16]
    old = base["layout"]
    units = UnitPlan.model_validate(storage.read_json(layout.plan)).units
    assert any(len(u.shots) > 1 for u in units if 2 in u.shots)
    for u in units:
        if 2 not in u.shots:
            continue
        mine, theirs = (
            decode(storage.download(x.unit_restored(u.id), tmp_path / f"{u.id}-{i}.mkv"))
            for i, x in enumerate((layout, old))
        )
        kept = [f - u.start_frame for f in range(u.start_frame, u.end_frame) if not 44 <= f < 68]
        assert kept and all(np.array_equal(mine[f], theirs[f]) for f in kept)
