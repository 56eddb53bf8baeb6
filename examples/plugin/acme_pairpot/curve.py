"""``matforge morse-curve``: the dimer energy curve of :class:`~acme_pairpot.model.MorsePair`."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from matforge.errors import MatforgeUserError
from matforge.interfaces import build_representation
from matforge.structure import AtomicStructure


def dimer_energies(model, species: tuple[int, int], distances: np.ndarray) -> np.ndarray:
    """Energies (eV) of the dimer ``species`` at each distance (Å)."""
    representation = build_representation(model, dtype=torch.float64)
    structures = [
        AtomicStructure(positions=[[0.0, 0.0, 0.0], [float(r), 0.0, 0.0]], atomic_numbers=list(species)).validate()
        for r in distances
    ]
    batch = representation.collate([representation(s) for s in structures])
    with torch.no_grad():
        per_atom = model.double()(batch)[:, 0]
    return per_atom.new_zeros(batch.num_graphs).index_add(0, batch.batch, per_atom).numpy()


def main(args: argparse.Namespace) -> int:
    if args.points < 2 or not 0 < args.start < args.stop:
        raise MatforgeUserError(f"need --points >= 2 and 0 < --start < --stop, got {args.points}, {args.start}, {args.stop}")
    if args.checkpoint:
        from matforge.tasks.prediction import load_task

        model = load_task(args.checkpoint).backbone
        if type(model).__name__ != "MorsePair":
            raise MatforgeUserError(f"{args.checkpoint} holds a {type(model).__name__}, not a morse-pair backbone")
    else:
        from acme_pairpot.model import MorsePair

        model = MorsePair()
    distances = np.linspace(args.start, args.stop, args.points)
    print("r (Å)\tE (eV)")
    for r, e in zip(distances, dimer_energies(model.eval(), tuple(args.species), distances)):
        print(f"{r:.3f}\t{e:.6f}")
    return 0
