"""Throughput settings from the environment, and the onnxruntime provider choice."""

from __future__ import annotations

from pathlib import Path

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


def test_onnxruntime_threads_do_not_spin_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECAST_ORT_SPIN", raising=False)
    entry = "session.intra_op.allow_spinning"
    assert runtime.session_options(Settings.from_env()).get_session_config_entry(entry) == "0"
    monkeypatch.setenv("RECAST_ORT_SPIN", "1")
    assert Settings.from_env().ort_spin
    assert runtime.session_options(Settings.from_env()).get_session_config_entry(entry) == "1"


@pytest.mark.parametrize(("value", "message"), [("x", "not a whole number"), ("0", "below 1")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("RECAST_FACE_BATCH", value)
    with pytest.raises(ValueError, match=f"RECAST_FACE_BATCH.*{message}"):
        Settings.from_env()


def test_providers_are_those_present_in_order_with_cpu_last() -> None:
    chosen = runtime.provider_names(Settings())
    assert chosen[-1] == "CPUExecutionProvider"
    # Asking for a provider this build lacks falls back to what exists.
    assert runtime.provider_names(Settings(providers=("CUDAExecutionProvider",))) == [
        p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in chosen
    ]


def _gpu_build(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """What a GPU pod's onnxruntime-gpu reports (this machine's build has the CPU only)."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: [*names, "CPUExecutionProvider"])


def test_tensorrt_builds_fp16_engines_cached_on_the_node(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECAST_MODEL_CACHE", str(tmp_path))
    _gpu_build(monkeypatch, "TensorrtExecutionProvider", "CUDAExecutionProvider")
    first, *rest = runtime.providers(Settings())
    assert rest == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert isinstance(first, tuple) and first[0] == "TensorrtExecutionProvider"
    options = first[1]
    assert options["trt_fp16_enable"] is True
    assert options["trt_engine_cache_enable"] is True
    assert Path(options["trt_engine_cache_path"]).is_dir()
    assert Path(options["trt_engine_cache_path"]).is_relative_to(tmp_path)
    off = runtime.providers(Settings(fp16=False))[0]
    assert isinstance(off, tuple) and off[1]["trt_fp16_enable"] is False
    # TensorRT makes its own fp16 engines: the graph itself stays fp32.
    assert not runtime.wants_fp16_graph(Settings(), runtime.provider_names(Settings()))


def test_cuda_alone_gets_an_fp16_graph_cpu_never(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not runtime.wants_fp16_graph(Settings(), runtime.provider_names(Settings()))
    _gpu_build(monkeypatch, "CUDAExecutionProvider")
    names = runtime.provider_names(Settings())
    assert runtime.wants_fp16_graph(Settings(), names)
    assert not runtime.wants_fp16_graph(Settings(fp16=False), names)


def test_fp16_graph_keeps_the_contract_and_the_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import contract_models
    import numpy as np
    import onnx
    import onnxruntime as ort

    monkeypatch.setenv("RECAST_MODEL_CACHE", str(tmp_path / "cache"))
    fp32 = contract_models.inswapper(tmp_path / "inswapper.onnx")
    half = runtime.fp16_graph(fp32)
    assert half != fp32 and runtime.fp16_graph(fp32) == half  # converted once, then cached
    graph = onnx.load(str(half)).graph
    kinds = {t.name: t.data_type for t in graph.initializer}
    assert kinds["identity"] == onnx.TensorProto.FLOAT16
    # Inputs and outputs stay float32, and INSwapper still finds its fp32 emap last.
    assert {i.type.tensor_type.elem_type for i in [*graph.input, *graph.output]} == {
        onnx.TensorProto.FLOAT
    }
    assert graph.initializer[-1].name == "emap"
    assert kinds["emap"] == onnx.TensorProto.FLOAT
    rng = np.random.default_rng(1)
    feeds = {
        "target": rng.random((2, 3, 128, 128), dtype=np.float32),
        "source": rng.standard_normal((2, 512)).astype(np.float32),
    }
    cpu = ["CPUExecutionProvider"]
    want = ort.InferenceSession(str(fp32), providers=cpu).run(None, feeds)[0]
    got = ort.InferenceSession(str(half), providers=cpu).run(None, feeds)[0]
    assert got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-2


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_insightface_models_run_the_fp16_graph_on_cuda(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import contract_models
    import numpy as np

    from tasks.faces.swap_inswapper import InSwapper

    monkeypatch.setenv("RECAST_MODEL_CACHE", str(tmp_path / "cache"))
    path = contract_models.inswapper(tmp_path / "inswapper.onnx")
    fp32 = InSwapper(path)
    _gpu_build(monkeypatch, "CUDAExecutionProvider")
    # This build has no CUDA: onnxruntime falls back to the CPU with the graph it was given.
    half = InSwapper(path)
    assert list((tmp_path / "cache" / "fp16").glob("*.fp16.onnx"))
    np.testing.assert_array_equal(half.model.emap, fp32.model.emap)  # read from the fp32 file
    assert half.batched and fp32.batched
