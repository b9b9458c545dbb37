"""onnxruntime sessions: the fastest provider this node has, with the configured threads.

TensorRT, then CUDA, then CPU, whichever the installed onnxruntime build offers (a GPU pod has
onnxruntime-gpu; a laptop has the CPU build). RECAST_ORT_PROVIDERS overrides the order.

Half precision (RECAST_FP16, on by default) only where a GPU runs the graph: TensorRT builds
fp16 engines itself (cached on the node, so a pod pays the build once); on CUDA alone the graph
is converted to fp16 with float32 inputs and outputs, so the code around it is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from tasks.faces.settings import Settings

log = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_PREFERENCE = (TENSORRT, CUDA, CPU)

Provider = str | tuple[str, dict[str, Any]]


def provider_names(settings: Settings | None = None) -> list[str]:
    """The providers a session gets, best first, among those this onnxruntime build has."""
    import onnxruntime as ort

    settings = settings or Settings.from_env()
    available = set(ort.get_available_providers())
    wanted = settings.providers or _PREFERENCE
    chosen = [p for p in wanted if p in available]
    if CPU in available and CPU not in chosen:
        chosen.append(CPU)  # always a fallback for unsupported nodes
    return chosen


def providers(settings: Settings | None = None) -> list[Provider]:
    """`provider_names` with their options, as `InferenceSession(providers=...)` takes them."""
    settings = settings or Settings.from_env()
    return [_with_options(name, settings) for name in provider_names(settings)]


def _with_options(name: str, settings: Settings) -> Provider:
    if name != TENSORRT:
        return name
    cache = str(_cache_dir("tensorrt"))
    return (
        name,
        {
            "trt_fp16_enable": settings.fp16,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": cache,
        },
    )


def _cache_dir(kind: str) -> Path:
    from tasks.models.store import cache_dir

    path = cache_dir() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def wants_fp16_graph(settings: Settings, names: list[str]) -> bool:
    """CUDA without TensorRT runs a graph in the precision it is given."""
    return settings.fp16 and bool(names) and names[0] == CUDA


def fp16_graph(path: Path) -> Path:
    """`path` converted to fp16 (float32 inputs and outputs kept), cached by content."""
    import onnx
    from onnxruntime.transformers import float16

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    target = _cache_dir("fp16") / f"{path.stem}.{digest}.fp16.onnx"
    if not target.is_file():
        converted = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        part = target.with_suffix(".part")
        onnx.save(converted, str(part))
        part.replace(target)
        log.info("%s converted to fp16 at %s", path.name, target)
    return target


def session(path: Path, settings: Settings | None = None) -> Any:
    """An InferenceSession for `path` on the best provider, in fp16 where that pays."""
    import onnxruntime as ort

    settings = settings or Settings.from_env()
    names = provider_names(settings)
    graph = fp16_graph(path) if wants_fp16_graph(settings, names) else path
    return ort.InferenceSession(
        str(graph), sess_options=session_options(settings), providers=providers(settings)
    )


def session_options(settings: Settings | None = None) -> Any:
    import onnxruntime as ort

    settings = settings or Settings.from_env()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # contract and exported graphs carry unused initializers
    if settings.ort_threads:
        options.intra_op_num_threads = settings.ort_threads
    spin = "1" if settings.ort_spin else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def on_gpu(session: Any) -> bool:
    return any(p != CPU for p in session.get_providers())
