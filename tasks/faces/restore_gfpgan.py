"""GFPGAN v1.4 face restoration on torch: GFPGANv1Clean from the `gfpgan` package, store weights.

The network's noise inputs are fixed (`randomize_noise=False`): fresh noise per frame is
visible flicker on a still face. fp16 on a GPU, fp32 on a CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from tasks.faces import gfpgan_arch
from tasks.faces.restore_base import Batch, FaceRestorer
from tasks.faces.settings import Settings

log = logging.getLogger(__name__)


class GfpganRestorer(FaceRestorer):
    def __init__(self, path: Path, params: dict[str, Any], settings: Settings) -> None:
        import torch

        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.network = gfpgan_arch.build(**params)
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
        state = checkpoint.get("params_ema", checkpoint.get("params", checkpoint))
        self.network.load_state_dict(state, strict=True)
        self.network.to(self.device)
        # fp16 halves memory traffic on a GPU; CPUs gain nothing from it.
        self.half = self.device.type == "cuda" and settings.fp16
        if self.half:
            self.network.half()
        self.size = int(params.get("out_size", gfpgan_arch.V14_SETTINGS["out_size"]))
        self.batch = settings.batch
        log.info("GFPGAN loaded from %s (%dpx, %s)", path, self.size, self.device)

    def forward(self, batch: Batch) -> Batch:
        import torch

        tensor = torch.from_numpy(batch).to(self.device)
        with torch.inference_mode():
            if self.half:
                tensor = tensor.half()
            image, _ = self.network(tensor, return_rgb=False, randomize_noise=False)
            return np.asarray(image.float().cpu().numpy(), dtype=np.float32)
