"""Forces and stress as exact derivatives of a model's energy.

forces = −∂E/∂positions; stress = (1/V)·∂E/∂ε at ε = 0 for a homogeneous strain ε applied to
positions and cell together (:meth:`AtomsBatch.deformed`). Both come from one backward pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch import Tensor

from matforge.batch import AtomsBatch
from matforge.errors import InvalidValueError

B = TypeVar("B", bound=AtomsBatch)


@contextlib.contextmanager
def autograd_batch(batch: B) -> Iterator[B]:
    """Autograd enabled, even inside Lightning's ``inference_mode`` validation loop.

    Tensors made under inference mode cannot take part in autograd, so there the batch is
    cloned outside inference mode (which yields ordinary tensors) and the clone is yielded.
    """
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False), torch.enable_grad():
            yield batch._map_tensors(torch.clone)
    else:
        with torch.enable_grad():
            yield batch


def energy_and_derivatives(
    energy_fn: Callable[[AtomsBatch], Tensor],
    batch: AtomsBatch,
    *,
    stress: bool = False,
    create_graph: bool = False,
) -> dict[str, Tensor]:
    """``energy`` [G] eV, ``forces`` [N, 3] eV/Å and, with ``stress``, ``stress`` [G, 3, 3] eV/Å³.

    Args:
        energy_fn: batch → per-structure energies [G] (eV).
        batch: the batch; its positions are replaced by a leaf that requires grad.
        stress: also differentiate with respect to a strain (every structure needs a cell
            with non-zero volume).
        create_graph: keep the graph of the derivatives so that a loss on forces or stress
            trains the model (training); ``False`` for validation and prediction.

    Raises:
        ValueError: ``stress`` was asked for a structure without a cell volume.
    """
    with autograd_batch(batch) as batch:
        positions = batch.positions.detach().requires_grad_(True)
        batch = dataclasses.replace(batch, positions=positions)
        inputs = [positions]
        model_batch = batch
        if stress:
            volume = torch.linalg.det(batch.cell).abs()
            if bool((volume < 1e-8).any()):
                k = int(torch.nonzero(volume < 1e-8)[0])
                raise InvalidValueError(
                    f"stress needs a periodic cell with non-zero volume; structure {k} of the batch "
                    f"(ids {batch.ids[k] if k < len(batch.ids) else '?'}) has none"
                )
            strain = torch.zeros((batch.num_graphs, 3, 3), dtype=positions.dtype, device=positions.device)
            strain.requires_grad_(True)
            inputs.append(strain)
            model_batch = batch.deformed(strain)
        energy = energy_fn(model_batch)
        # allow_unused: a backbone that ignores geometry (composition models) has zero forces
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
        result = {"energy": energy, "forces": -grads[0]}
        if stress:
            virial = grads[1] / volume[:, None, None]
            result["stress"] = 0.5 * (virial + virial.transpose(1, 2))
        if not create_graph:
            result = {name: value.detach() for name, value in result.items()}
        return result
