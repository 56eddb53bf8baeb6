#!/usr/bin/env python
"""Generate the synthetic EMT catalysis devsets ``emt-is2re`` and ``emt-s2ef``.

Synthetic data in the OC20 format, NOT OC20 data: adsorbate+slab systems built like OC20's
(the real OC20 adsorbates from ``fairchem-data-oc``, fcc slabs of Al, Ni, Cu, Pd, Ag, Pt, Au
with (111), (100), (110) and stepped (211) facets, bottom layers fixed, OC20 tags), relaxed
with ASE's EMT calculator and BFGS, and labelled with OC20-referenced adsorption energies.

Development tool; its dependencies are not runtime dependencies of matforge:

    pip install -e '.[devsets]'          # ase>=3.22 and fairchem-data-oc
    # or: pip install ase && pip install --no-deps fairchem-data-oc

Usage (from the repository root; writes core/devsets/emt-is2re/ and core/devsets/emt-s2ef/):

    OMP_NUM_THREADS=1 python scripts/make_emt_devsets.py            # the shipped devsets
    python scripts/make_emt_devsets.py --quick --out /tmp/emt        # a small smoke run

Reproducible: the same arguments give byte-identical dataset files (seeded draws, ordered
parallel map, single-threaded numpy, no timestamps in the metadata).
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP before numpy loads: fixed summation order, no oversubscription.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emt_devsets import GENERATOR_VERSION  # noqa: E402
from emt_devsets import build as B  # noqa: E402
from emt_devsets import relax as R  # noqa: E402
from emt_devsets.splits import SPLITS, Candidate, design_splits, draw_candidates  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "core" / "devsets"
IS2RE_NAME, S2EF_NAME = "emt-is2re", "emt-s2ef"

#: systems kept per split (IS2RE) and frames per split (S2EF)
IS2RE_SIZES = {"train": 600, "val_id": 100, "val_ood_ads": 100, "val_ood_cat": 100, "val_ood_both": 100}
S2EF_SIZES = {"train": 2000, "val_id": 200, "val_ood_ads": 200, "val_ood_cat": 200, "val_ood_both": 200}
QUICK_IS2RE = {s: 6 for s in SPLITS}
QUICK_S2EF = {s: 12 for s in SPLITS}
#: measured with `time` (both devsets together), quoted in the READMEs
RUN_TIME = "11 CPU-minutes: 11 minutes wall on a busy 2-core machine with 2 workers"
#: candidates drawn per kept system (upper bound; relaxations stop once a split is full)
OVERDRAW = 2.0


# -- worker side -----------------------------------------------------------------------------


@dataclass
class Context:
    """Read-only state shared with the worker processes (inherited through fork)."""

    seed: int
    mode: str
    adsorbates: dict  # name -> Adsorbate
    slabs: dict  # (metal, facet) -> relaxed clean slab (ase.Atoms)
    slab_energies: dict  # (metal, facet) -> EMT energy of the relaxed clean slab
    sites: dict  # (metal, facet) -> list[Site]


_CTX: Context | None = None


def _init_worker(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


def relax_candidate(cand: Candidate) -> dict:
    """Build, relax and check one system. Returns ``status`` ("ok", "unplaceable",
    "unconverged", "dissociated", "rearranged", "desorbed", "reconstructed") and, when ok, the
    initial system and the trajectory."""
    ctx = _CTX
    key = (cand.metal, cand.facet)
    slab = ctx.slabs[key]
    rng = np.random.default_rng([ctx.seed, 15485863, cand.sid])
    try:
        system, _theta = B.place_adsorbate(slab, ctx.adsorbates[cand.adsorbate], ctx.sites[key][cand.site], rng)
    except B.PlacementError:
        return {"status": "unplaceable"}
    initial = system.copy()
    R.constrain(system, ctx.mode)
    traj = R.relax(system)
    if not traj.converged:
        return {"status": "unconverged", "steps": traj.steps}
    problem = R.anomaly(initial, traj.positions[-1], slab.positions)
    if problem:
        return {"status": problem, "steps": traj.steps}
    return {
        "status": "ok",
        "numbers": initial.numbers.copy(),
        "cell": np.asarray(initial.cell).copy(),
        "tags": initial.get_tags().copy(),
        "traj": traj,
    }


def relax_slab(key: tuple[str, str]):
    slab = B.build_slab(*key)
    traj = R.relax(slab)
    if not traj.converged:
        raise RuntimeError(f"clean slab {key} did not converge")
    slab.calc = None
    return slab, float(traj.energies[-1])


def _pool(workers: int, ctx: Context | None):
    return multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(ctx,))


# -- main side -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from matforge.structure import AtomicStructure

    t0 = time.perf_counter()
    is2re_sizes = QUICK_IS2RE if args.quick else IS2RE_SIZES
    s2ef_sizes = QUICK_S2EF if args.quick else S2EF_SIZES
    out = Path(args.out)

    adsorbates = {a.name: a for a in B.load_adsorbates()}
    metals, facets = B.METALS, tuple(B.FACETS)
    design = design_splits(list(adsorbates), metals, facets, args.seed)
    refs = R.atomic_references()
    print(f"{len(adsorbates)} adsorbates (H/C/N/O) from fairchem-data-oc; references {refs}", flush=True)

    catalysts = [(m, f) for m in metals for f in facets]
    for m in metals:
        B.emt_lattice_constant(m)  # cached before forking
    with _pool(args.workers, None) as pool:
        relaxed = pool.map(relax_slab, catalysts, chunksize=1)
    slabs = {k: s for k, (s, _) in zip(catalysts, relaxed)}
    slab_energies = {k: e for k, (_, e) in zip(catalysts, relaxed)}
    sites = {k: B.find_sites(slabs[k], k[0]) for k in catalysts}
    print(f"{len(catalysts)} clean slabs relaxed ({time.perf_counter() - t0:.0f} s)", flush=True)

    ctx = Context(args.seed, args.mode, adsorbates, slabs, slab_energies, sites)
    draw = {s: int(np.ceil(OVERDRAW * n)) + 4 for s, n in is2re_sizes.items()}
    cands = draw_candidates(design, {k: [s.kind for s in v] for k, v in sites.items()}, draw, args.seed)

    kept: dict[str, list[tuple[Candidate, dict]]] = {s: [] for s in SPLITS}
    status: dict[str, Counter] = {s: Counter() for s in SPLITS}
    _init_worker(ctx)
    for split in SPLITS:
        todo = [c for c in cands if c.split == split]
        if split != "train":
            # "same adsorbates / catalysts as train" means those train actually holds (EMT
            # rejects some adsorbates so often that train may end up without them)
            train_ads = {c.adsorbate for c, _ in kept["train"]}
            train_cat = {(c.metal, c.facet) for c, _ in kept["train"]}
            todo = [
                c for c in todo
                if (c.adsorbate in train_ads or split in ("val_ood_ads", "val_ood_both"))
                and ((c.metal, c.facet) in train_cat or split in ("val_ood_cat", "val_ood_both"))
            ]
        with _pool(args.workers, ctx) as pool:
            for cand, res in zip(todo, pool.imap(relax_candidate, todo, chunksize=1)):
                status[split][res["status"]] += 1
                if res["status"] == "ok":
                    kept[split].append((cand, res))
                    if len(kept[split]) == is2re_sizes[split]:
                        break
            pool.terminate()
        print(f"{split}: kept {len(kept[split])} of {sum(status[split].values())} relaxed {dict(sorted(status[split].items()))} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

    # -- assemble structures -----------------------------------------------------------------
    is2re: dict[str, list] = {}
    s2ef: dict[str, list] = {}
    for split_no, split in enumerate(SPLITS):
        is2re[split] = []
        frames = []
        for cand, res in kept[split]:
            traj: R.Relaxation = res["traj"]
            ads = adsorbates[cand.adsorbate]
            e_slab = slab_energies[(cand.metal, cand.facet)]
            e_ads = R.adsorption_energy(traj.energies, e_slab, ads.symbols)
            ids = {
                "metal": cand.metal,
                "facet": f"fcc{cand.facet}",
                "catalyst": f"{cand.metal}-fcc{cand.facet}",
                "adsorbate": cand.adsorbate,
                "site": sites[(cand.metal, cand.facet)][cand.site].kind,
            }
            common = {
                "atomic_numbers": res["numbers"],
                "cell": res["cell"],
                "pbc": np.ones(3, dtype=bool),
                "tags": res["tags"],
                "fixed": res["tags"] == B.TAG_SUBSURFACE,
            }
            is2re[split].append(
                AtomicStructure(
                    positions=traj.positions[0],
                    targets={
                        "energy_relaxed": np.float64(e_ads[-1]),
                        "energy_initial": np.float64(e_ads[0]),
                        "positions_relaxed": traj.positions[-1],
                    },
                    sid=cand.sid,
                    ids=dict(ids),
                    **common,
                )
            )
            frames.extend((cand.sid, fid, traj, e_ads, ids, common) for fid in range(len(traj.energies)))
        rng = np.random.default_rng([args.seed, 32452843, split_no])
        take = np.sort(rng.choice(len(frames), size=min(s2ef_sizes[split], len(frames)), replace=False))
        s2ef[split] = [
            AtomicStructure(
                positions=traj.positions[fid],
                targets={"energy": np.float64(e_ads[fid]), "forces": traj.forces[fid]},
                sid=sid,
                fid=int(fid),
                ids=dict(ids),
                **common,
            )
            for sid, fid, traj, e_ads, ids, common in (frames[k] for k in take)
        ]

    # -- write ---------------------------------------------------------------------------------
    from matforge.data import write_dataset

    provenance = _provenance(args, design, refs, status, is2re_sizes)
    sizes: dict[str, dict[str, int]] = {}
    for name, data in ((IS2RE_NAME, is2re), (S2EF_NAME, s2ef)):
        sizes[name] = {}
        for split in SPLITS:
            path = out / name / split
            path.parent.mkdir(parents=True, exist_ok=True)
            prov = dict(provenance, devset=name, split=split, task=name.split("-")[1])
            write_dataset(path, data[split], provenance=prov, overwrite=True, progress=False)
            sizes[name][split] = _dir_bytes(path)
        _write_readme(out / name, name, is2re, s2ef, status, sizes[name], design, refs, args)
    elapsed = time.perf_counter() - t0
    for name in sizes:
        print(f"{name}: {sum(sizes[name].values())} bytes {sizes[name]}")
    print(f"done in {elapsed / 60:.1f} min", flush=True)
    return 0


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in sorted(path.rglob("*")) if p.is_file())


def _command_line(args: argparse.Namespace) -> str:
    parts = ["python", "scripts/make_emt_devsets.py"]
    if args.quick:
        parts.append("--quick")
    if args.seed != 0:
        parts += ["--seed", str(args.seed)]
    if args.mode != "fixed-bonds":
        parts += ["--mode", args.mode]
    return shlex.join(parts)


def _provenance(args, design, refs, status, is2re_sizes) -> dict:
    return {
        "source": "synthetic EMT catalysis data in the OC20 format (not OC20 data)",
        "generator": "scripts/make_emt_devsets.py",
        "generator_version": GENERATOR_VERSION,
        "command_line": _command_line(args),
        "created": None,  # no timestamp: regenerating gives identical files
        "seed": args.seed,
        "calculator": f"ase.calculators.emt.EMT (ase {version('ase')})",
        "optimizer": f"ase BFGS, fmax {R.FMAX} eV/A, maxstep {R.MAX_STEP} A, at most {R.MAX_STEPS} steps",
        "adsorbate_relaxation": args.mode,
        "adsorbates": f"fairchem-data-oc {version('fairchem-data-oc')} adsorbates.pkl (H/C/N/O only)",
        "energy_reference": "E_ads = E(slab+adsorbate) - E(relaxed clean slab) - sum of atomic references; "
        "E_H = E(H2)/2, E_O = E(H2O) - E(H2), E_N = E(N2)/2, E_C = E(CO) - E_O (EMT-relaxed gas molecules)",
        "atomic_references_eV": {k: round(v, 10) for k, v in sorted(refs.items())},
        "splits": design.to_dict(),
        "relaxations": {s: dict(sorted(status[s].items())) for s in SPLITS},
    }


def _write_readme(root: Path, name: str, is2re, s2ef, status, sizes, design, refs, args) -> None:
    task = name.split("-")[1]
    data = is2re if task == "is2re" else s2ef
    unit = "systems" if task == "is2re" else "frames"
    rows = "\n".join(
        f"| `{s}` | {len(data[s])} | {len({st.ids['adsorbate'] for st in data[s]})} | "
        f"{len({st.ids['catalyst'] for st in data[s]})} | {sizes[s]:,} |"
        for s in SPLITS
    )
    total_status = Counter()
    for s in SPLITS:
        total_status.update(status[s])
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(total_status.items()) if k != "ok")
    if task == "is2re":
        fields = (
            "- inputs: `positions` (initial structure, Å), `atomic_numbers`, `cell`, `pbc`, `tags`, `fixed`\n"
            "- targets: `energy_relaxed` (eV, adsorption energy of the relaxed structure), "
            "`energy_initial` (eV, adsorption energy of the initial structure), `positions_relaxed` (Å)\n"
            "- ids: `sid` (system id), `metal`, `facet`, `catalyst`, `adsorbate` (OC20 name, e.g. `*CO`), "
            "`site` (`top`, `bridge`, `hollow`: the site the adsorbate was placed on)"
        )
    else:
        fields = (
            "- inputs: `positions` (Å), `atomic_numbers`, `cell`, `pbc`, `tags`, `fixed`\n"
            "- targets: `energy` (eV, referenced like an adsorption energy), `forces` (eV/Å, raw EMT forces "
            "on every atom, fixed ones included)\n"
            "- ids: `sid` (system id, shared with `emt-is2re`), `fid` (frame index in the relaxation), "
            "`metal`, `facet`, `catalyst`, `adsorbate`, `site`"
        )
    text = f"""# {name}: synthetic EMT catalysis data in the OC20 {task.upper()} format

**This is not OC20 data.** It is synthetic data computed with ASE's EMT potential, laid out
like the Open Catalyst 2020 {task.upper()} task so that models, tasks and splits can be
developed and tested on a laptop. EMT adsorption energies are smooth and cheap but **not
physical**: EMT describes H, C, N and O bonds poorly and has only a weak metal dependence.
Never report results on it as OC20 results.

## What

Adsorbate+slab systems: fcc slabs of Al, Ni, Cu, Pd, Ag, Pt and Au, facets (111), (100),
(110) and the stepped (211), 3x3 (111)/(100), 2x3 (110) and 3x3 (211) surface cells, 3-4
layers, {B.VACUUM:g} Å of vacuum on each side, 24-36 slab atoms; the bottom {int(B.FIXED_FRACTION * 100)} %
of the slab fixed (`fixed`, tag 0), the rest tag 1, adsorbate atoms tag 2 (OC20 tags). The
adsorbates are the {len(design.id_adsorbates) + len(design.ood_adsorbates)} real OC20 adsorbates of the `fairchem-data-oc`
package (all made of H, C, N and O), placed on top, bridge and hollow sites with their binding
atoms over the site, a random rotation about the surface normal and a minimum-distance check.

{fields}

Splits mirror the OC20 paper's Table 2:

| split | {unit} | adsorbates | catalysts | bytes |
|---|---|---|---|---|
{rows}

- `train`, `val_id`: drawn from the same {len(design.id_adsorbates)} adsorbates and {len(design.id_catalysts)} catalysts, different systems;
- `val_ood_ads`: drawn from {len(design.ood_adsorbates)} held-out adsorbates ({", ".join(f"`{a}`" for a in design.ood_adsorbates)})
  on the training catalysts;
- `val_ood_cat`: the training adsorbates on held-out catalysts: every {", ".join(design.to_dict()["held_out_metals"])} slab and
  every fcc({", ".join(design.to_dict()["held_out_facets"])}) slab ({len(design.ood_catalysts)} catalysts);
- `val_ood_both`: held-out adsorbates on held-out catalysts.

## How it was made

`scripts/make_emt_devsets.py` (generator version {GENERATOR_VERSION}), from the repository root:

    pip install -e '.[devsets]'
    OMP_NUM_THREADS=1 {_command_line(args)}

1. fcc lattice constants minimise the EMT bulk energy; clean slabs are relaxed (EMT, BFGS).
2. Atomic references from EMT-relaxed gas molecules, as in OC20:
   E_H = ½E(H2), E_O = E(H2O) − E(H2), E_N = ½E(N2), E_C = E(CO) − E_O
   ({", ".join(f"{k} {v:.4f} eV" for k, v in sorted(refs.items()))}).
3. Each system is relaxed with EMT and BFGS (fmax {R.FMAX} eV/Å, step cap {R.MAX_STEP} Å, at most
   {R.MAX_STEPS} steps); the whole trajectory is kept. Adsorption energy
   E_ads = E(slab+adsorbate) − E(clean relaxed slab) − Σ atomic references.
4. EMT does not hold most adsorbates together on a metal (relaxed freely, ~80 % of them
   dissociate, H first). The adsorbate's bond lengths are therefore held at their OC20
   database values during the relaxation (`--mode {args.mode}`; `--mode free` is the plain
   protocol); angles, orientation and position relax. The relaxed structure is the minimum
   under that constraint, and the raw EMT forces on adsorbate atoms keep the bond-stretching
   part (median ~4 eV/Å on adsorbate atoms, up to ~30 eV/Å).
5. Systems are skipped and counted when no placement passes the distance check, the
   relaxation does not converge, or the relaxed system is anomalous as in OC20 (a bond broke,
   a new bond formed, the adsorbate desorbed, the surface reconstructed). Over all splits:
   {total_status["ok"]} kept; skipped {skipped or "none"} (per split in each dataset's
   provenance, `relaxations`). Each split keeps its first successful systems in draw order.
6. `emt-s2ef` frames are drawn at random (seeded) from the relaxation trajectories of the
   `emt-is2re` systems of the same split (sids are shared); energies are referenced like
   the adsorption energies.

Seeded and reproducible: running the command again gives byte-identical dataset files
(`metadata.json` and shards). Whole devset: {sum(sizes.values()):,} bytes of dataset files. The
generator takes {RUN_TIME}.
"""
    (root / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="devsets directory (default: core/devsets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="relaxation processes (results do not depend on it)")
    parser.add_argument("--mode", choices=R.ADSORBATE_MODES, default="fixed-bonds", help="adsorbate relaxation (see README)")
    parser.add_argument("--quick", action="store_true", help="a few systems per split (smoke test)")
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
