"""Throughput settings from the environment, and the onnxruntime provider choice."""

from __future__ import annotations

import pytest

from tasks.faces import runtime
from tasks.faces.settings import Settings


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RECAST_FACE_BATCH", "RECAST_PIPELINE_QUEUE", "RECAST_ORT_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env() == Settings()
    monkeypatch.setenv("RECAST_FACE_BATCH", "16")
    monkeypatch.setenv("RECAST_ORT_THREADS", "3")
    settings = Settings.from_env()
    assert (settings.batch, settings.ort_threads) == (16, 3)
    assert runtime.session_options(settings).intra_op_num_threads == 3


@pytest.mark.parametrize(("value", "message"), [("x", "not a whole number"), ("0", "below 1")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("RECAST_FACE_BATCH", value)
    with pytest.raises(ValueError, match=f"RECAST_FACE_BATCH.*{message}"):
        Settings.from_env()


def test_providers_are_those_present_in_order_with_cpu_last() -> None:
    chosen = runtime.providers(Settings())
    assert chosen[-1] == "CPUExecutionProvider"
    # Asking for a provider this build lacks falls back to what exists.
    assert runtime.providers(Settings(providers=("CUDAExecutionProvider",))) == [
        p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in chosen
    ]
