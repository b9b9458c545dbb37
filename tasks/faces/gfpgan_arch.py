"""GFPGANv1Clean from the installed `gfpgan` package, imported without basicsr's training stack.

`import gfpgan` runs `gfpgan/__init__`, which imports basicsr's datasets, losses and models;
those import `torchvision.transforms.functional_tensor`, gone from current torchvision, and
torchvision itself has no wheel matching the CPU torch used here. The architecture needs none
of it: two files, `stylegan2_clean_arch.py` and `gfpganv1_clean_arch.py`, which import only
basicsr's `ARCH_REGISTRY` and `default_init_weights`. This module is the one place that knows:
it executes those two unmodified files from the installed package under a private package name,
with those two basicsr names provided here, and leaves `sys.modules` as it found it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_PRIVATE = "_recast_gfpgan_archs"
_ARCH_FILES = ("stylegan2_clean_arch", "gfpganv1_clean_arch")

# The released v1.3/v1.4 settings (GFPGANer, arch="clean", channel_multiplier=2).
V14_SETTINGS: dict[str, Any] = {
    "out_size": 512,
    "num_style_feat": 512,
    "channel_multiplier": 2,
    "decoder_load_path": None,
    "fix_decoder": False,
    "num_mlp": 8,
    "input_is_latent": True,
    "different_w": True,
    "narrow": 1,
    "sft_half": True,
}


def archs_dir() -> Path:
    spec = importlib.util.find_spec("gfpgan")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `gfpgan` package is not installed (pip install --no-deps gfpgan)")
    return Path(next(iter(spec.submodule_search_locations))) / "archs"


class _Registry:
    """Stands in for basicsr's ARCH_REGISTRY: registration by decorator, nothing else."""

    def register(self, obj: Any = None) -> Callable[[Any], Any]:
        return lambda cls: cls


def _default_init_weights(
    module_list: Any, scale: float = 1, bias_fill: float = 0, **kwargs: Any
) -> None:
    """basicsr.archs.arch_util.default_init_weights (only used for weights not yet loaded)."""
    import torch
    from torch import nn

    modules = module_list if isinstance(module_list, list) else [module_list]
    with torch.no_grad():
        for module in modules:
            for m in module.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, **kwargs)
                    m.weight.data *= scale
                    if m.bias is not None:
                        m.bias.data.fill_(bias_fill)
                elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                    nn.init.constant_(m.weight, 1)
                    if m.bias is not None:
                        m.bias.data.fill_(bias_fill)


@contextmanager
def _basicsr_names() -> Iterator[None]:
    registry = types.ModuleType("basicsr.utils.registry")
    registry.ARCH_REGISTRY = _Registry()  # type: ignore[attr-defined]
    arch_util = types.ModuleType("basicsr.archs.arch_util")
    arch_util.default_init_weights = _default_init_weights  # type: ignore[attr-defined]
    names = {
        "basicsr": types.ModuleType("basicsr"),
        "basicsr.utils": types.ModuleType("basicsr.utils"),
        "basicsr.archs": types.ModuleType("basicsr.archs"),
        "basicsr.utils.registry": registry,
        "basicsr.archs.arch_util": arch_util,
    }
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(names)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@functools.cache
def gfpgan_v1_clean() -> type[Any]:
    """The `GFPGANv1Clean` class of the installed gfpgan package."""
    package = types.ModuleType(_PRIVATE)
    package.__path__ = [str(archs_dir())]
    sys.modules[_PRIVATE] = package  # the relative import inside gfpganv1_clean_arch needs it
    with _basicsr_names():
        for name in _ARCH_FILES:
            module = importlib.import_module(f"{_PRIVATE}.{name}")
    cls: type[Any] = module.GFPGANv1Clean
    return cls


def build(**settings: Any) -> Any:
    """A GFPGANv1Clean network (v1.4 settings unless overridden), in eval mode."""
    network = gfpgan_v1_clean()(**{**V14_SETTINGS, **settings})
    return network.eval()
