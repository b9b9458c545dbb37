"""onnxruntime sessions: the fastest provider this node has, with the configured threads.

TensorRT, then CUDA, then CPU, whichever the installed onnxruntime build offers (a GPU pod has
onnxruntime-gpu; a laptop has the CPU build). RECAST_ORT_PROVIDERS overrides the order.
"""

from __future__ import annotations

import logging
from typing import Any

from tasks.faces.settings import Settings

log = logging.getLogger(__name__)

_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def providers(settings: Settings | None = None) -> list[str]:
    import onnxruntime as ort

    settings = settings or Settings.from_env()
    available = set(ort.get_available_providers())
    wanted = settings.providers or _PREFERENCE
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" in available and "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")  # always a fallback for unsupported nodes
    return chosen


def session_options(settings: Settings | None = None) -> Any:
    import onnxruntime as ort

    settings = settings or Settings.from_env()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # contract and exported graphs carry unused initializers
    if settings.ort_threads:
        options.intra_op_num_threads = settings.ort_threads
    return options


def on_gpu(session: Any) -> bool:
    return any(p != "CPUExecutionProvider" for p in session.get_providers())
