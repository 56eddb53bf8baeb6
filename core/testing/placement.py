"""Finding tensors a model creates on torch's default device, on a machine with only a CPU.

On a GPU, ``torch.zeros(n)`` in ``forward`` lands on the CPU while the batch is on the GPU,
and the next operation fails. On CPU that bug is invisible, because both are the same
device. :class:`DefaultDeviceFor` makes it visible: inside it, tensor factories called
*from the given packages* without ``device=`` create ``meta`` tensors, which no operation
mixes with the batch's CPU tensors. Libraries outside those packages (torch itself, DGL, …)
keep their own defaults, as they would on a GPU machine whose default device is the CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import torch
from torch.overrides import TorchFunctionMode

#: torch functions that create a tensor on the default device unless given ``device=``.
_FACTORY_NAMES = (
    "empty", "empty_strided", "zeros", "ones", "full", "arange", "linspace", "logspace", "eye",
    "tensor", "as_tensor", "scalar_tensor", "rand", "randn", "randint", "randperm",
    "tril_indices", "triu_indices", "sparse_coo_tensor",
)  # fmt: skip
FACTORIES = frozenset(getattr(torch, name) for name in _FACTORY_NAMES if hasattr(torch, name))


class DefaultDeviceFor(TorchFunctionMode):
    """Within the block, factories called from modules of ``packages`` (top-level names,
    e.g. ``{"matforge_egnn"}``) without ``device=`` create tensors on ``device``."""

    def __init__(self, packages: Iterable[str], device: str = "meta") -> None:
        super().__init__()
        self.packages = frozenset(packages)
        self.device = torch.device(device)

    def _called_from_packages(self) -> bool:
        caller = sys._getframe(2)  # 0: this method, 1: __torch_function__, 2: the caller
        module = caller.f_globals.get("__name__", "")
        return module.split(".")[0] in self.packages

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if (
            func in FACTORIES
            and kwargs.get("device") is None
            and not (func is torch.as_tensor and args and isinstance(args[0], torch.Tensor))  # keeps its device
            and self._called_from_packages()
        ):
            kwargs["device"] = self.device
        return func(*args, **kwargs)


def model_packages(model: torch.nn.Module) -> set[str]:
    """Top-level packages whose code runs in ``model.forward``: those of its modules'
    classes, plus every ``matforge*`` package (the core and its plugins' shared ops)."""
    packages = {type(m).__module__.split(".")[0] for m in model.modules()}
    packages |= {name.split(".")[0] for name in sys.modules if name.startswith("matforge")}
    return packages - {"torch"}
