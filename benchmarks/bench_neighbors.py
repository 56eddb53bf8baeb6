"""Graph construction on EMT-devset-like slabs: matforge vs bare vesin and ase.neighborlist.

Slabs (seeded): fcc111 / fcc100 / fcc211 of an EMT metal, 3–4 layers, with a small adsorbate
(H, C, N, O, CO, OH) at a random in-plane position, 7 Å vacuum, periodic in-plane; ~30–70
atoms; plus the first 200 emt-s2ef devset training frames. Ours is the ``graph``
representation's per-structure work in DataLoader workers (vesin neighbour list, ordering,
edge arrays); the peers are a bare vesin call (``NeighborList(cutoff, full_list=True)
.compute(..., quantities="ijSd")``: what ours costs at the least) and
``ase.neighborlist.neighbor_list("i", atoms, cutoff)`` (on the first ``--ase-count`` slabs:
it is ~100× slower). The candidates run in turns over the
whole set (:mod:`timing`), medians of CPU time per structure.

    OMP_NUM_THREADS=1 python benchmarks/bench_neighbors.py [--count 1000] [--cutoff 6] [--rounds 7] [--ase-count 50]
"""

from __future__ import annotations

import argparse

import numpy as np
from _report import record
from ase import Atoms
from ase.build import add_adsorbate, fcc100, fcc111, fcc211, molecule
from ase.neighborlist import neighbor_list
from timing import interleaved, print_table
from vesin import NeighborList

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


def bare_vesin(structure: AtomicStructure, cutoff: float) -> int:
    nl = NeighborList(cutoff=cutoff, full_list=True)
    periodic = structure.pbc.tolist() if structure.pbc.any() else False
    box = structure.cell if structure.cell is not None else np.zeros((3, 3))
    i, *_ = nl.compute(points=structure.positions, box=box, periodic=periodic, quantities="ijSd")
    return len(i)


def devset(count: int) -> list[AtomicStructure]:
    try:
        from matforge.data import open_dataset

        dataset = open_dataset("devset:emt-s2ef/train")
    except Exception as exc:  # the devset ships with the data layer
        print(f"  (emt-s2ef devset not available: {type(exc).__name__}: {exc})")
        return []
    return [dataset[k] for k in range(min(count, len(dataset)))]


def compare(label: str, structures: list[AtomicStructure], atoms: list[Atoms] | None, cutoff: float, rounds: int) -> None:
    rep = GraphRepresentation(cutoff=cutoff)
    ours = sum(rep(s).edge_index.shape[1] for s in structures)
    if ours != sum(bare_vesin(s, cutoff) for s in structures):
        raise SystemExit(f"{label}: edge counts differ between matforge and vesin")
    candidates = {
        "matforge graph": lambda: [rep(s) for s in structures],
        "bare vesin": lambda: [bare_vesin(s, cutoff) for s in structures],
    }
    if atoms is not None:
        if ours != sum(len(neighbor_list("i", a, cutoff)) for a in atoms):
            raise SystemExit(f"{label}: edge counts differ between matforge and ase")
        candidates["ase neighbor_list"] = lambda: [neighbor_list("i", a, cutoff) for a in atoms]
    results = interleaved(candidates, rounds=rounds, warmup=1)
    sizes = [s.num_atoms for s in structures]
    per = 1.0 / len(structures)
    print_table(f"{label}: {len(structures)} structures ({min(sizes)}-{max(sizes)} atoms), cutoff {cutoff} Å, "
                f"{ours / len(structures):.0f} edges each; times for the whole set", results)  # fmt: skip
    mine, vesin = results["matforge graph"], results["bare vesin"]
    print(f"  per structure: matforge {mine.cpu * per:.3f} ms, bare vesin {vesin.cpu * per:.3f} ms CPU; "
          f"matforge / vesin {mine.cpu / vesin.cpu:.2f}x (goal <= 1.3x)")  # fmt: skip
    record(f"graph construction, {label} (CPU per structure)", mine.cpu * per, "ms", peer="bare vesin",
           peer_value=vesin.cpu * per, higher_is_better=False, spread=mine.cpu_spread * per)  # fmt: skip
    if "ase neighbor_list" in results:
        ase = results["ase neighbor_list"]
        record(f"graph construction, {label} (CPU per structure)", mine.cpu * per, "ms", peer="ase neighbor_list",
               peer_value=ase.cpu * per, higher_is_better=False, spread=mine.cpu_spread * per)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ase-count", type=int, default=50)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    slabs = [make_slab(rng) for _ in range(args.count)]
    structures = [to_structure(a) for a in slabs]
    compare("generated slabs", structures, None, args.cutoff, args.rounds)
    few = min(args.ase_count, len(slabs))  # ase takes ~100x longer: a subset
    compare(f"first {few} generated slabs", structures[:few], slabs[:few], args.cutoff, max(3, args.rounds // 2))
    frames = devset(200)
    if frames:
        compare("emt-s2ef devset frames", frames, None, args.cutoff, args.rounds)


if __name__ == "__main__":
    main()
