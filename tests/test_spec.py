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
