"""Fixtures of the face tests: real photographs and a model store of contract-shaped models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from contract_models import neural_store, scrfd, write_store
from face_samples import person, t1_image


@pytest.fixture(autouse=True)
def _offline_by_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test picks up a model store from the environment unless it sets one."""
    monkeypatch.delenv("RECAST_MODELS", raising=False)
    yield


@pytest.fixture(scope="session")
def t1() -> np.ndarray:
    return t1_image()


@pytest.fixture(scope="session")
def lisa(t1: np.ndarray) -> np.ndarray:
    return person(t1, 5)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local model store: ArcFace, INSwapper and a small GFPGANv1Clean (contract-shaped)."""
    return neural_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(params=[False, True], ids=["offline", "neural"])
def neural(
    request: pytest.FixtureRequest, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> bool:
    """Each test twice: offline (no model store), and neural (the contract-shaped store)."""
    if request.param:
        monkeypatch.setenv("RECAST_MODELS", str(store_dir))
    return bool(request.param)


@pytest.fixture(scope="session")
def scrfd_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scrfd-store")
    return write_store(folder, {"det_10g": (scrfd(folder / "det.onnx"), "scrfd", {})})
