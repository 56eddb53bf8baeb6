"""Build the ``lips`` devset (core/devsets/lips/{train,val,test}) from the matsciml LiPS LMDB.

The source holds 200 DFT molecular-dynamics frames of Li6.75P3S11 (LiPS data set, Materials
Cloud archive record 2022.45) as pickled dicts of tensors. They are imported with matforge's
restricted unpickler (nothing in the file is executed) and split 160/20/20 with a fixed seed.
The output depends only on the input file and this script: running it twice gives identical
files.

    python scripts/make_lips_devset.py [--source PATH] [--dest DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

from matforge.data.importers import import_dataset
from matforge.data.split import split_dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "matsciml-devsets" / "lips.lmdb"
DEFAULT_DEST = REPO / "core" / "devsets" / "lips"
SEED = 2022
PARTS = {"train": 0.8, "val": 0.1, "test": 0.1}
CITATION = (
    "LiPS data set (lithium phosphorus sulfide Li6.75P3S11, ab-initio molecular dynamics), "
    "Materials Cloud archive record 2022.45, https://archive.materialscloud.org/record/2022.45; "
    "200-frame devset from the IntelLabs matsciml repository (MIT licence)"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(source: Path, dest: Path) -> None:
    provenance = {
        "source": "matsciml LiPS devset (matsciml/datasets/lips/devset/data.lmdb)",
        "source_sha256": sha256(source),
        "citation": CITATION,
        "command_line": "python scripts/make_lips_devset.py",
        "created": None,  # left out so that rebuilding gives identical files
    }
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "lips"
        summary = import_dataset(
            source, full, format="matsciml", key_map={"energy": "energy", "forces": "force"},
            progress=False, provenance=provenance,
        )  # fmt: skip
        print(summary)
        if summary.rejected:
            raise SystemExit("LiPS frames were rejected; refusing to build a partial devset")
        if dest.exists():
            shutil.rmtree(dest)
        written = split_dataset(
            full, dest, PARTS, seed=SEED, overwrite=True, progress=False,
            provenance={"split_of": "all 200 LiPS frames", **provenance},
        )  # fmt: skip
    sizes = {name: sum(f.stat().st_size for f in path.iterdir()) for name, path in written.items()}
    for name, path in written.items():
        print(f"{name}: {path} ({sizes[name] / 1e3:.0f} kB)")
    write_readme(dest, {name: len(open_split(path)) for name, path in written.items()}, sizes)


def open_split(path: Path):
    from matforge.data import open_dataset

    return open_dataset(path)


def write_readme(dest: Path, counts: dict[str, int], sizes: dict[str, int]) -> None:
    rows = "\n".join(f"| `{name}` | {counts[name]} | {sizes[name]:,} |" for name in counts)
    text = f"""# `lips` devset: LiPS DFT frames

Real DFT data: 200 ab-initio molecular-dynamics frames of lithium phosphorus sulfide
(Li6.75P3S11, 83 atoms, periodic) with total energies (eV) and forces (eV/Å).

Cite: {CITATION}.

| split | frames | bytes |
|---|---|---|
{rows}

Split at random with seed {SEED} ({", ".join(f"{k} {v:g}" for k, v in PARTS.items())}); frames of
one MD trajectory are correlated, so `val` and `test` measure interpolation, not transfer.
Targets: `energy` (eV, total energy), `forces` (eV/Å). Rebuild (byte-identical) with
`python scripts/make_lips_devset.py`; inspect with `matforge data info devset:lips`.
"""
    (dest / "README.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args()
    build(args.source, args.dest)


if __name__ == "__main__":
    main()
