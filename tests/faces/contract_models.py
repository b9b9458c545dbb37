"""Small models with the exact input/output contracts of the production face models.

No production weights can be had here, so tests and `bench/faces.py` build stand-ins that the
real libraries accept: insightface's `model_zoo.get_model` routes each ONNX file by its
signature (SCRFD: 9 outputs; INSwapper: two inputs, the first 1x3x128x128, `emap` as the last
initializer; ArcFace: square 112 input, 512 output), and the GFPGAN file is a real
GFPGANv1Clean state dict (random weights, small widths). Their outputs are simple on purpose:
- INSwapper: the aligned crop plus a tint that depends on the source latent (identity conv).
- ArcFace: a fixed random projection of an 8x8-pooled crop (same crop, same vector).
- SCRFD: a face wherever a 16x16 cell of the input is bright, box and keypoints at fixed offsets.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SMALL_GFPGAN: dict[str, Any] = {
    "out_size": 64,
    "num_style_feat": 32,
    "channel_multiplier": 1,
    "narrow": 0.0625,
}
# SCRFD stand-in: box half-size and keypoints, in stride units around the anchor centre.
SCRFD_STRIDE = 16
SCRFD_HALF = 2.0
SCRFD_KPS = [(-0.8, -0.6), (0.8, -0.6), (0.0, 0.2), (-0.6, 0.9), (0.6, 0.9)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def inswapper(path: Path, batch: int | str = "N", seed: int = 0) -> Path:
    """INSwapper-128: target [B,3,128,128] RGB in [0,1], source [B,512] -> [B,3,128,128]."""
    rng = np.random.default_rng(seed)
    eye = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    tint = (rng.standard_normal((512, 3)) * 0.08).astype(np.float32)
    emap = (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)
    inits = [
        numpy_helper.from_array(eye, "identity"),
        numpy_helper.from_array(tint, "tint"),
        numpy_helper.from_array(np.array([-1, 3, 1, 1], dtype=np.int64), "tint_shape"),
        numpy_helper.from_array(np.float32(0.0), "lo"),
        numpy_helper.from_array(np.float32(1.0), "hi"),
        numpy_helper.from_array(emap, "emap"),  # last: INSwapper reads graph.initializer[-1]
    ]
    nodes = [
        helper.make_node("Conv", ["target", "identity"], ["crop"], name="conv_target"),
        helper.make_node("Gemm", ["source", "tint"], ["shift"], name="gemm_source"),
        helper.make_node("Reshape", ["shift", "tint_shape"], ["shift4"], name="reshape"),
        helper.make_node("Add", ["crop", "shift4"], ["mixed"], name="add"),
        helper.make_node("Clip", ["mixed", "lo", "hi"], ["output"], name="clip"),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_contract",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [batch, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [batch, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, 128, 128])],
        inits,
    )
    return _save(graph, path)


def arcface(path: Path, seed: int = 1) -> Path:
    """ArcFace contract: input.1 [B,3,112,112] (normalised RGB) -> [B,512]."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((3 * 14 * 14, 512)) / np.sqrt(588)).astype(np.float32)
    nodes = [
        helper.make_node(
            "AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8], name="pool"
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc"], ["683"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_contract",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
        [numpy_helper.from_array(weight, "fc")],
    )
    return _save(graph, path)


def _scrfd_branch(stride: int, live: bool) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Score, box and keypoint heads of one stride (2 anchors per cell, SCRFD's layout)."""
    s = f"s{stride}"
    # Scores: a cell of the normalised input ((x-127.5)/128) near 1 is bright -> logit 15.
    score_w = np.full((2, 3, 1, 1), 20.0 / 3 if live else 0.0, dtype=np.float32)
    score_b = np.full(2, -5.0 if live else -20.0, dtype=np.float32)
    box_b = np.full(8, SCRFD_HALF, dtype=np.float32)
    kps_b = np.tile(np.array(SCRFD_KPS, dtype=np.float32).reshape(10), 2)
    inits = [
        numpy_helper.from_array(score_w, f"{s}_score_w"),
        numpy_helper.from_array(score_b, f"{s}_score_b"),
        numpy_helper.from_array(np.zeros((8, 3, 1, 1), np.float32), f"{s}_box_w"),
        numpy_helper.from_array(box_b, f"{s}_box_b"),
        numpy_helper.from_array(np.zeros((20, 3, 1, 1), np.float32), f"{s}_kps_w"),
        numpy_helper.from_array(kps_b, f"{s}_kps_b"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), f"{s}_shape1"),
        numpy_helper.from_array(np.array([-1, 4], np.int64), f"{s}_shape4"),
        numpy_helper.from_array(np.array([-1, 10], np.int64), f"{s}_shape10"),
    ]
    pool = [stride, stride]
    nodes = [
        helper.make_node(
            "AveragePool", ["input.1"], [f"{s}_p"], kernel_shape=pool, strides=pool, name=f"{s}_p"
        )
    ]
    for head, shape in (("score", "shape1"), ("box", "shape4"), ("kps", "shape10")):
        nodes += [
            helper.make_node(
                "Conv", [f"{s}_p", f"{s}_{head}_w", f"{s}_{head}_b"], [f"{s}_{head}_c"]
            ),
            helper.make_node("Transpose", [f"{s}_{head}_c"], [f"{s}_{head}_t"], perm=[0, 2, 3, 1]),
        ]
        last = f"{s}_{head}_t"
        if head == "score":
            nodes.append(helper.make_node("Sigmoid", [last], [f"{s}_{head}_sig"]))
            last = f"{s}_{head}_sig"
        nodes.append(helper.make_node("Reshape", [last, f"{s}_{shape}"], [f"{s}_{head}"]))
    return nodes, inits


def scrfd(path: Path) -> Path:
    """SCRFD contract (the 9-output layout of det_10g): scores, boxes, keypoints per stride."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs = {"score": [], "box": [], "kps": []}  # type: dict[str, list[onnx.ValueInfoProto]]
    for stride in (8, 16, 32):
        branch_nodes, branch_inits = _scrfd_branch(stride, live=stride == SCRFD_STRIDE)
        nodes += branch_nodes
        inits += branch_inits
        for head, width in (("score", 1), ("box", 4), ("kps", 10)):
            name = f"s{stride}_{head}"
            outputs[head].append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, width])
            )
    graph = helper.make_graph(
        nodes,
        "scrfd_contract",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])],
        outputs["score"] + outputs["box"] + outputs["kps"],
        inits,
    )
    return _save(graph, path)


def onnx_restorer(path: Path, size: int = 64, batch: int | str = "N") -> Path:
    """GFPGAN's ONNX contract: input [B,3,S,S] RGB in [-1,1] -> the same shape (a 3x3 blur)."""
    kernel = np.full((3, 1, 3, 3), 1 / 9, dtype=np.float32)
    node = helper.make_node(
        "Conv", ["input", "blur"], ["output"], group=3, pads=[1, 1, 1, 1], name="blur"
    )
    graph = helper.make_graph(
        [node],
        "restorer_contract",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, size, size])],
        [numpy_helper.from_array(kernel, "blur")],
    )
    return _save(graph, path)


def gfpgan(path: Path, seed: int = 0, **settings: Any) -> Path:
    """A GFPGANv1Clean checkpoint ({'params_ema': state_dict}) with random weights."""
    import torch

    from tasks.faces import gfpgan_arch

    torch.manual_seed(seed)
    network = gfpgan_arch.build(**{**SMALL_GFPGAN, **settings})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": network.state_dict()}, str(path))
    return path


def gfpgan_available() -> bool:
    """torch and the gfpgan package are installed (scripts/bootstrap.sh installs both)."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("torch", "gfpgan"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_store(folder: Path, models: dict[str, tuple[Path, str, dict[str, Any]]]) -> Path:
    """A model store in `folder`: the files (already there) and their manifest.json."""
    entries = [
        {
            "name": name,
            "file": str(file.relative_to(folder)),
            "sha256": sha256(file),
            "kind": kind,
            "licence": "test stand-in, random weights",
            "params": params,
        }
        for name, (file, kind, params) in models.items()
    ]
    (folder / "manifest.json").write_text(json.dumps({"models": entries}, indent=2))
    return folder


def neural_store(folder: Path, with_scrfd: bool = False, with_gfpgan: bool | None = None) -> Path:
    """A store with every contract model the neural path uses (GFPGAN when torch is there)."""
    with_gfpgan = gfpgan_available() if with_gfpgan is None else with_gfpgan
    models: dict[str, tuple[Path, str, dict[str, Any]]] = {
        "w600k_r50": (arcface(folder / "arcface.onnx"), "arcface", {}),
        "inswapper_128": (inswapper(folder / "inswapper.onnx"), "inswapper", {}),
    }
    if with_scrfd:
        models["det_10g"] = (scrfd(folder / "scrfd.onnx"), "scrfd", {})
    if with_gfpgan:
        models["GFPGANv1.4"] = (gfpgan(folder / "gfpgan.pth"), "gfpgan", dict(SMALL_GFPGAN))
    return write_store(folder, models)
