"""Throughput settings of the face engine, read from the environment once per process.

| variable | meaning | default |
|---|---|---|
| RECAST_FACE_BATCH | frames per inference batch (detection, swap, restoration) | 8 |
| RECAST_ORT_THREADS | onnxruntime intra-op threads per session (0: onnxruntime decides) | 0 |
| RECAST_ORT_SPIN | 1: onnxruntime's idle threads spin-wait for work (its own default) | 0 |
| RECAST_TORCH_THREADS | torch CPU threads (0: torch decides) | 0 |
| RECAST_PIPELINE_QUEUE | decoded / finished frame batches held between the stages | 2 |
| RECAST_ORT_PROVIDERS | onnxruntime providers in order of preference, comma-separated | best |
| RECAST_REID_EVERY | frames between identity checks of an unmatched face (0: on jumps only) | 0 |
| RECAST_DETECT_SIDE | longest side of the frame the whole-frame detection sees | 480 |
| RECAST_DETECT_EVERY | whole-frame detection on one frame in this many (tracks between) | 3 |
| RECAST_REFINE_SIDE | largest crop a replaced face is re-detected on, every frame (0: off) | 320 |
| RECAST_FP16 | 1: half precision on a GPU (TensorRT fp16, fp16 ONNX graphs on CUDA, torch) | 1 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tasks.env import env_int


@dataclass(frozen=True)
class Settings:
    batch: int = 8
    ort_threads: int = 0
    # Spinning threads burn the CPU the decoder, the encoder and the other pods' stages need:
    # on 2 loaded cores CenterFace took 50-80% more CPU and more wall time with it.
    ort_spin: bool = False
    torch_threads: int = 0
    queue: int = 2
    providers: tuple[str, ...] = ()
    reid_every: int = 0
    detect_side: int = 480
    detect_every: int = 3
    refine_side: int = 320
    fp16: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        providers = tuple(
            p.strip() for p in os.environ.get("RECAST_ORT_PROVIDERS", "").split(",") if p.strip()
        )
        return cls(
            batch=env_int("RECAST_FACE_BATCH", cls.batch, 1),
            ort_threads=env_int("RECAST_ORT_THREADS", cls.ort_threads, 0),
            ort_spin=bool(env_int("RECAST_ORT_SPIN", int(cls.ort_spin), 0)),
            torch_threads=env_int("RECAST_TORCH_THREADS", cls.torch_threads, 0),
            queue=env_int("RECAST_PIPELINE_QUEUE", cls.queue, 1),
            providers=providers,
            reid_every=env_int("RECAST_REID_EVERY", cls.reid_every, 0),
            detect_side=env_int("RECAST_DETECT_SIDE", cls.detect_side, 64),
            detect_every=env_int("RECAST_DETECT_EVERY", cls.detect_every, 1),
            refine_side=env_int("RECAST_REFINE_SIDE", cls.refine_side, 0),
            fp16=bool(env_int("RECAST_FP16", int(cls.fp16), 0)),
        )
