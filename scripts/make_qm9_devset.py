"""Build the ``qm9`` devset (core/devsets/qm9/{train,val,test}) from the qm9pack CSVs.

All 130,831 molecules of ``pip install qm9pack`` are imported (``matforge data import qm9pack
... --format qm9``: Hartree → eV), split at random with seed 0 into the usual 110,000 train /
10,000 val / rest (10,831) test, and a seeded sample of each part becomes the devset's split of
the same name, so devset splits never share a molecule and each is a fair sample of its part.
The output depends only on qm9pack's CSVs and this script: rebuilding gives identical files.

    pip install qm9pack && python scripts/make_qm9_devset.py [--dest DIR] [--sizes 1200 150 150]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from matforge.data import open_dataset, write_dataset
from matforge.data.dataset import AtomicDataset
from matforge.data.importers import import_dataset
from matforge.data.importers.qm9 import QM9_CITATION, QM9_TARGETS
from matforge.data.split import REST, split_indices

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO / "core" / "devsets" / "qm9"
SEED = 0
#: the split LitMatter and most QM9 papers use (counts; test takes the rest)
FULL_SPLIT = {"train": 110_000, "val": 10_000, "test": REST}
DEFAULT_SIZES = (1200, 150, 150)  # bounded by the 8 MB budget of all shipped devsets


def build(dest: Path, sizes: tuple[int, int, int]) -> dict[str, int]:
    provenance = {"citation": QM9_CITATION, "command_line": "python scripts/make_qm9_devset.py", "created": None}
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "qm9"
        summary = import_dataset("qm9pack", full, format="qm9", progress=False, provenance=provenance)
        print(summary)
        if summary.rejected:
            raise SystemExit("QM9 molecules were rejected; refusing to build a partial devset")
        dataset = open_dataset(full)
        parts = split_indices(dataset, FULL_SPLIT, seed=SEED)
        rng = np.random.default_rng(SEED)
        if dest.exists():
            shutil.rmtree(dest)
        counts = {}
        for (name, indices), size in zip(parts.items(), sizes):
            chosen = np.sort(rng.choice(indices, size=size, replace=False))
            write_dataset(
                dest / name, AtomicDataset(full, indices=chosen), progress=False, min_distance=None,
                provenance={**dataset.provenance, "split_of": "QM9 (qm9pack, 130,831 molecules)",
                            "part": f"{size} of the {len(indices)} {name} molecules of the seed-{SEED} 110k/10k/rest split",
                            "created": None},
            )  # fmt: skip
            counts[name] = size
    return counts


def write_readme(dest: Path, counts: dict[str, int]) -> None:
    sizes = {name: sum(f.stat().st_size for f in (dest / name).iterdir()) for name in counts}
    rows = "\n".join(f"| `{name}` | {counts[name]:,} | {sizes[name]:,} |" for name in counts)
    targets = ", ".join(f"`{t}`" for t in QM9_TARGETS)
    text = f"""# `qm9` devset: QM9 molecules

Real DFT data (B3LYP/6-31G(2df,p)): a seeded sample of QM9's small organic molecules (up to 9
heavy atoms C, N, O, F; non-periodic) with 12 properties: {targets}. Energies (`U0`, `U`, `H`,
`G`, `homo`, `lumo`, `gap`, `zpve`) are in eV (converted from Hartree, 1 Ha = 27.211386245988
eV), `mu` in D, `alpha` in a0^3, `r2` in a0^2, `Cv` in cal/(mol K).

Cite: {QM9_CITATION}.

| split | molecules | bytes |
|---|---|---|
{rows}

The 130,831 molecules of the `qm9pack` package were split at random (seed {SEED}) into 110,000
train / 10,000 val / 10,831 test, the usual QM9 split; each devset split is a seeded sample of
the part of the same name. Rebuild (byte-identical) with `pip install qm9pack && python
scripts/make_qm9_devset.py`; the whole dataset: `matforge data import qm9pack qm9 --format qm9`
then `matforge data split qm9 qm9-splits --parts train=110000 val=10000 test=rest --seed 0`.
Train a property: `matforge fit --task property --data devset:qm9 --model egnn
--model.init_args.properties '[gap]'`.
"""
    (dest / "README.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--sizes", type=int, nargs=3, default=DEFAULT_SIZES, metavar=("TRAIN", "VAL", "TEST"))
    args = parser.parse_args()
    counts = build(args.dest, tuple(args.sizes))
    write_readme(args.dest, counts)
    for name, count in counts.items():
        print(f"{name}: {count} molecules")


if __name__ == "__main__":
    main()
