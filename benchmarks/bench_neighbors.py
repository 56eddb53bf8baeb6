"""Graph construction for 1,000 EMT-devset-like slabs: matforge vs ase.neighborlist.

Slabs (seeded): fcc111 / fcc100 / fcc211 of an EMT metal, 3–4 layers, with a small adsorbate
(H, C, N, O, CO, OH) at a random in-plane position, 7 Å vacuum, periodic in-plane; ~30–70
atoms. Ours is the ``graph`` representation's per-structure work in DataLoader workers
(vesin neighbour list, sorting, edge arrays); the peer is
``ase.neighborlist.neighbor_list("ijS", atoms, cutoff)`` on the same structures.

    OMP_NUM_THREADS=1 python benchmarks/bench_neighbors.py [--count 1000] [--cutoff 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, fcc100, fcc111, fcc211, molecule
from ase.neighborlist import neighbor_list

from matforge.structure import AtomicStructure
from matforge_graph.representation import GraphRepresentation

METALS = ["Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"]
ADSORBATES = ["H", "C", "N", "O", "CO", "OH"]


def make_slab(rng: np.random.Generator) -> Atoms:
    kind = rng.integers(3)
    metal = str(rng.choice(METALS))
    x, y, layers = (int(v) for v in rng.integers(3, 5, 3))
    if kind == 0:
        slab = fcc111(metal, size=(x, y, layers), vacuum=7.0)
    elif kind == 1:
        slab = fcc100(metal, size=(x, y, layers), vacuum=7.0)
    else:
        slab = fcc211(metal, size=(3, y, layers), vacuum=7.0)
    name = str(rng.choice(ADSORBATES))
    adsorbate = Atoms(name) if len(name) == 1 else molecule(name)
    xy = rng.uniform(0.0, 1.0, 2) @ slab.cell.array[:2, :2]
    add_adsorbate(slab, adsorbate, height=float(rng.uniform(1.2, 2.0)), position=tuple(xy))
    return slab


def to_structure(atoms: Atoms) -> AtomicStructure:
    return AtomicStructure(positions=atoms.positions, atomic_numbers=atoms.numbers, cell=atoms.cell.array, pbc=atoms.pbc)


def rate(fn, items) -> tuple[float, int]:
    """Structures per second of ``fn`` over ``items`` (after one warm-up call), and edges."""
    fn(items[0])
    start = time.perf_counter()
    edges = sum(fn(item) for item in items)
    return len(items) / (time.perf_counter() - start), edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    slabs = [make_slab(rng) for _ in range(args.count)]
    structures = [to_structure(a) for a in slabs]
    sizes = [len(a) for a in slabs]
    rep = GraphRepresentation(cutoff=args.cutoff)

    ours, our_edges = rate(lambda s: rep(s).edge_index.shape[1], structures)
    ase_rate, ase_edges = rate(lambda a: len(neighbor_list("i", a, args.cutoff)), slabs)
    if our_edges != ase_edges:
        raise SystemExit(f"edge counts differ: matforge {our_edges}, ase {ase_edges}")

    print(f"graph construction, {args.count} slabs ({min(sizes)}-{max(sizes)} atoms, mean {np.mean(sizes):.0f}), cutoff {args.cutoff} Å, {our_edges / args.count:.0f} edges/slab")
    print(f"  matforge (vesin)        {ours:10.1f} structures/s  ({1e3 / ours:.3f} ms each)")
    print(f"  ase neighbor_list       {ase_rate:10.1f} structures/s  ({1e3 / ase_rate:.3f} ms each)")
    print(f"  ratio matforge / ase    {ours / ase_rate:10.1f}x  (target >= 30x)")


if __name__ == "__main__":
    main()
