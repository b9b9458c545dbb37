"""Face restoration with an ONNX export of a restorer (e.g. GFPGANv1.4.onnx), no torch needed.

The contract is GFPGAN's: one input N x 3 x S x S, RGB normalised to [-1, 1], aligned to the
FFHQ template at S (read from the graph), and one output of the same shape. A graph with a
fixed batch of 1 gets one face per call.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tasks.faces import runtime
from tasks.faces.restore_base import Batch, FaceRestorer
from tasks.faces.settings import Settings

log = logging.getLogger(__name__)


class OnnxRestorer(FaceRestorer):
    def __init__(self, path: Path, settings: Settings) -> None:
        self.session = runtime.session(path, settings)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{path.name}: a restorer has one input and one output")
        shape = inputs[0].shape
        if (
            len(shape) != 4
            or shape[1] != 3
            or not isinstance(shape[2], int)
            or shape[2] != shape[3]
        ):
            raise ValueError(f"{path.name}: input {shape} is not N x 3 x S x S")
        self.size = int(shape[2])
        self.input = inputs[0].name
        self.batch = settings.batch if not isinstance(shape[0], int) or shape[0] != 1 else 1
        log.info("ONNX restorer loaded from %s (%dpx)", path, self.size)

    def forward(self, batch: Batch) -> Batch:
        return np.asarray(self.session.run(None, {self.input: batch})[0], dtype=np.float32)
