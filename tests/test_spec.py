from __future__ import annotations

import pytest

from tasks.spec import RenderSpec, Shot, ShotList, SpecError


def _spec(**over: object) -> dict[str, object]:
    return {"asset": "s3://b/in/film.mp4", "faces": [{"source": "s3://b/f.png"}], **over}


def test_a_minimal_spec_gets_the_defaults() -> None:
    spec = RenderSpec.parse(_spec())
    assert spec.restore == "none"
    assert spec.faces[0].reference is None
    assert spec.max_units == 256


def test_every_problem_is_listed_in_one_error() -> None:
    with pytest.raises(SpecError) as err:
        RenderSpec.parse(_spec(faces=[], restore="sharpen", colour="red"))
    text = str(err.value)
    assert "faces" in text and "restore" in text and "colour" in text


@pytest.mark.parametrize(
    ("asset", "reason"),
    [
        ("s3://bucket/../etc/passwd", "'..'"),
        ("http://example.com/film.mp4", "only s3://"),
        ("s3://bucket", "BUCKET/KEY"),
        ("s3://b/a\x07b.mp4", "control characters"),
        ("   ", "empty"),
    ],
)
def test_bad_asset_uris_are_refused_with_the_reason(asset: str, reason: str) -> None:
    with pytest.raises(SpecError, match=reason):
        RenderSpec.parse(_spec(asset=asset))


def test_spec_json_is_parsed_and_bad_json_named() -> None:
    assert RenderSpec.parse(RenderSpec.parse(_spec()).to_json()).asset == "s3://b/in/film.mp4"
    with pytest.raises(SpecError, match="not valid JSON"):
        RenderSpec.parse("{nope")


def test_fingerprint_is_stable_and_setting_sensitive() -> None:
    a = RenderSpec.parse(_spec()).fingerprint()
    assert a == RenderSpec.parse(_spec()).fingerprint()
    assert a != RenderSpec.parse(_spec(max_units=3)).fingerprint()


def test_shot_list_must_cover_every_frame_once() -> None:
    ok = ShotList(
        fps="24000/1001",
        frame_count=10,
        shots=[
            Shot(index=0, start_frame=0, end_frame=4),
            Shot(index=1, start_frame=4, end_frame=10),
        ],
    )
    assert [s.frames for s in ok.shots] == [4, 6]
    with pytest.raises(ValueError, match="starts at 5"):
        ShotList(
            fps="24",
            frame_count=10,
            shots=[
                Shot(index=0, start_frame=0, end_frame=4),
                Shot(index=1, start_frame=5, end_frame=10),
            ],
        )
    with pytest.raises(ValueError, match="film has 12"):
        ShotList(fps="24", frame_count=12, shots=[Shot(index=0, start_frame=0, end_frame=10)])


@pytest.mark.parametrize(
    ("over", "path", "rule"),
    [
        ({"restore_strength": 5}, "restore_strength", "less than or equal to 1 (got 5)"),
        ({"max_units": 0}, "max_units", "greater than or equal to 1 (got 0)"),
        ({"max_units": 10**6}, "max_units", "less than or equal to 1000 (got 1000000)"),
        ({"unit_frames": -24}, "unit_frames", "greater than or equal to 1 (got -24)"),
        ({"delivery": "imax"}, "delivery", "'review' or 'master' (got 'imax')"),
        ({"tier": "Ultra Fast!"}, "tier", "should match pattern"),
        ({"match_threshold": 0}, "match_threshold", "greater than 0"),
        ({"faces": [{"source": "s3://b/f.png"}] * 17}, "faces", "at most 16 items"),
    ],
)
def test_out_of_range_values_are_named_with_their_field(
    over: dict[str, object], path: str, rule: str
) -> None:
    with pytest.raises(SpecError) as err:
        RenderSpec.parse(_spec(**over))
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}: ") and rule in problem


def test_every_schema_error_is_a_separate_problem_with_its_path() -> None:
    bad = _spec(
        restore_strength=5, max_units=0, unit_frames=-1, delivery="imax", colour="red",
        faces=[{"source": "s3://b/f.png", "select": "everyone"}, {"reference": "s3://b/r.png"}],
    )  # fmt: skip
    with pytest.raises(SpecError) as err:
        RenderSpec.parse(bad)
    paths = sorted(p.split(":", 1)[0] for p in err.value.problems)
    assert paths == [
        "colour", "delivery", "faces.0.select", "faces.1.source", "max_units",
        "restore_strength", "unit_frames",
    ]  # fmt: skip
    assert str(err.value) == "invalid render spec: " + "; ".join(err.value.problems)


def test_credentials_written_into_a_uri_are_refused_and_never_repeated() -> None:
    with pytest.raises(SpecError) as err:
        RenderSpec.parse(
            _spec(asset="s3://AKIAEXAMPLE:hunter2-secret@bucket/f.mp4", colour="x:y@z")
        )
    assert "not an S3 bucket name" in str(err.value)
    assert "hunter2-secret" not in str(err.value) and "AKIAEXAMPLE" not in str(err.value)
    assert "s3://***@bucket/f.mp4" in str(err.value)


def test_a_bucket_name_that_s3_would_refuse_is_refused() -> None:
    with pytest.raises(SpecError, match="not an S3 bucket name"):
        RenderSpec.parse(_spec(asset="s3://Bad_Bucket/f.mp4"))


def test_no_restore_task_runs_unless_a_face_may_be_restored() -> None:
    assert not RenderSpec.parse(_spec()).restores()
    assert RenderSpec.parse(_spec(restore="gfpgan")).restores()
    # A shot override may restore a shot the render does not: the restore stage decides.
    scoped = _spec(base_run="r1", shot_overrides=[{"shot": 2, "restore": "gfpgan"}])
    assert RenderSpec.parse(scoped).restores()
