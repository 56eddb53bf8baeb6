"""``matforge data import|info|split``: bring data in, look at it, split it."""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from typing import Any

from matforge.errors import InvalidValueError

#: Importer formats (matforge.data.importers.FORMATS, which imports lmdb; a test keeps both equal).
IMPORT_FORMATS = ("oc20", "matsciml", "ase", "qm9")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="import, inspect and split datasets (matforge LMDB format)",
        description="Import OC20/matsciml LMDBs and ASE files, show a dataset's contents and "
        "statistics, split a dataset. DATASET arguments accept devset:NAME[/SPLIT].",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    imp = commands.add_parser(
        "import",
        help="convert OC20 / matsciml LMDBs or ASE-readable files into a matforge dataset",
        description="Convert SRC into the matforge dataset DEST. Legacy pickles are read with a "
        "restricted unpickler (no code runs); unusable records are rejected and listed with "
        "file, key, field and reason, and the import goes on.",
        epilog="exit status: 0 every record imported; 3 written, but some records were rejected; "
        "1 nothing written (an error, a hostile pickle, every record rejected, or more than "
        "--max-rejects).",
    )
    imp.add_argument("src", help="source: an LMDB file, a directory of *.lmdb, or a file ase.io reads")
    imp.add_argument("dest", help="dataset directory to create")
    imp.add_argument("--format", required=True, choices=IMPORT_FORMATS, help="source format (qm9: SRC is 'qm9pack' for the installed package, a folder of qm9_part*.csv or one CSV)")
    imp.add_argument("--limit", type=int, default=None, metavar="N", help="import only the first N records")
    imp.add_argument(
        "--map", action="append", default=[], metavar="DEST=SRC",
        help="take matforge field DEST from source key SRC (repeatable), e.g. --map forces=force; "
        "a mapped key must be present in every record",
    )  # fmt: skip
    imp.add_argument("--ase-format", default=None, help="format name for ase.io.read (default: from the file name)")
    imp.add_argument("--shards", type=int, default=1, help="number of shards, written in parallel (default 1)")
    imp.add_argument("--overwrite", action="store_true", help="replace DEST if it is a dataset")
    imp.add_argument("--float64", action="store_true", help="store positions and forces as float64 (default float32)")
    imp.add_argument("--min-distance", type=float, default=None, help="reject structures with atoms closer than this (Å; default 0.1)")
    imp.add_argument(
        "--max-rejects", type=int, default=None, metavar="N",
        help="stop, writing nothing, once more than N records are rejected (default: no limit)",
    )  # fmt: skip
    imp.add_argument(
        "--max-record-mb", type=float, default=None, metavar="MB",
        help="decoded-size limit of one legacy record in MiB (default 64; guards against records "
        "built to exhaust memory)",
    )  # fmt: skip
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    imp.set_defaults(func=run_import)

    info = commands.add_parser(
        "info",
        help="a compact summary of a dataset: splits and counts, targets, provenance",
        description="Splits × structure counts, target statistics (mean/std/unit of the training "
        "split, what tasks normalise with) and provenance once. --verbose adds fields, full "
        "statistics and provenance per split.",
    )
    info.add_argument("dataset", help="dataset directory, index file, devset:NAME or devset:NAME/SPLIT")
    info.add_argument("--verbose", "-v", action="store_true", help="fields, full statistics and provenance of every split")
    info.add_argument("--json", action="store_true", help="print the metadata as JSON")
    info.set_defaults(func=run_info)

    verify = commands.add_parser(
        "verify",
        help="read and check every record of a dataset and its statistics",
        description="Open DATASET (metadata, shard sizes and counts), decode and validate every "
        "record, recompute the statistics and compare them with the stored ones. Exit status 0 "
        "when everything checks out, 1 otherwise.",
    )
    verify.add_argument("dataset", help="dataset directory, devset:NAME or devset:NAME/SPLIT")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(func=run_verify)

    split = commands.add_parser(
        "split",
        help="split a dataset at random or by a field, seeded",
        description="Split DATASET into parts written under DEST as datasets (DEST/<part>/) or "
        "index files (DEST/<part>.json).",
    )
    split.add_argument("dataset", help="dataset to split (path or devset:NAME/SPLIT)")
    split.add_argument("dest", help="directory to write the parts into")
    split.add_argument(
        "--parts", nargs="+", default=["train=0.8", "val=0.1", "test=0.1"], metavar="NAME=FRACTION",
        help="parts and their fractions (default: train=0.8 val=0.1 test=0.1), or counts with "
        "one part taking the rest: train=110000 val=10000 test=rest",
    )  # fmt: skip
    split.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    split.add_argument("--by", default=None, metavar="FIELD", help="keep structures with the same FIELD together (sid, fid, an id or a scalar target)")
    split.add_argument("--index-files", action="store_true", help="write index files instead of new datasets")
    split.add_argument("--overwrite", action="store_true", help="replace existing parts")
    split.add_argument("--no-progress", action="store_true", help="no progress bar")
    split.set_defaults(func=run_split)


#: Exit status of ``data import`` when a dataset was written but some records were rejected.
EXIT_REJECTED = 3


def run_import(args: argparse.Namespace) -> int:
    from matforge.data.importers import import_dataset
    from matforge.structure import DEFAULT_MIN_DISTANCE

    if args.max_rejects is not None and args.max_rejects < 0:
        raise InvalidValueError(f"--max-rejects must be >= 0, got {args.max_rejects}")
    if args.max_record_mb is not None and not args.max_record_mb > 0:
        raise InvalidValueError(f"--max-record-mb must be > 0, got {args.max_record_mb}")
    with _overwrite_hint():
        summary = import_dataset(
            args.src, args.dest, format=args.format, key_map=args.map, ase_format=args.ase_format,
            num_shards=args.shards, overwrite=args.overwrite, float32=not args.float64, limit=args.limit,
            progress=not args.no_progress, max_rejects=args.max_rejects,
            max_record_bytes=None if args.max_record_mb is None else int(args.max_record_mb * 2**20),
            min_distance=DEFAULT_MIN_DISTANCE if args.min_distance is None else args.min_distance,
        )  # fmt: skip
    print(summary)
    if not summary.num_imported:
        return 1
    return EXIT_REJECTED if summary.rejected else 0


@contextmanager
def _overwrite_hint():
    """A destination that exists is one line naming the flag (the API says ``overwrite=True``)."""
    from matforge.data.errors import DatasetError, DestinationExistsError

    try:
        yield
    except DestinationExistsError as exc:
        if not exc.replaceable:
            raise DatasetError(f"{exc.path!r} exists and is not a matforge dataset; refusing to replace it") from None
        raise DatasetError(f"{exc.path!r} already exists; pass --overwrite to replace it") from None


def _parse_parts(items: list[str]) -> dict[str, float | None]:
    from matforge.data.split import REST

    parts: dict[str, float | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            parts[name] = REST if value == "rest" else float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise InvalidValueError(
                f"--parts entry {item!r} must look like NAME=FRACTION (train=0.8) or, with one "
                "NAME=rest part, NAME=COUNT (train=110000 val=10000 test=rest)"
            )
    return parts


def run_split(args: argparse.Namespace) -> int:
    from matforge.data.split import split_dataset

    with _overwrite_hint():
        written = split_dataset(
            args.dataset, args.dest, _parse_parts(args.parts), seed=args.seed, by=args.by,
            index_files=args.index_files, overwrite=args.overwrite, progress=not args.no_progress,
        )  # fmt: skip
    from matforge.data import open_dataset

    for name, path in written.items():
        print(f"{name}: {len(open_dataset(path))} structures → {path}")
    return 0


def _dataset_paths(name: str) -> tuple[dict[str, str], str]:
    """Split name → path of a dataset argument (every split of ``devset:NAME``), and a header."""
    from matforge.devsets.catalog import parse_devset
    from matforge.training.table import order_splits

    parsed = parse_devset(name)
    if parsed is not None and parsed[1] is None:
        devset = parsed[0]
        header = f"devset {devset.name}: {devset.summary}"
        if devset.citation:
            header += f"\ncite: {devset.citation}"
        return {split: f"devset:{devset.name}/{split}" for split in order_splits(devset.splits)}, header
    return {name: name}, ""


def run_verify(args: argparse.Namespace) -> int:
    from matforge.data.verify import verify_dataset
    from matforge.devsets.catalog import resolve_dataset_path

    paths, _ = _dataset_paths(args.dataset)
    ok = True
    for path in paths.values():
        report = verify_dataset(resolve_dataset_path(path), progress=not args.no_progress)
        print(report)
        ok &= report.ok
    return 0 if ok else 1


def run_info(args: argparse.Namespace) -> int:
    from matforge.data import open_dataset

    paths, header = _dataset_paths(args.dataset)
    datasets = {name: open_dataset(path) for name, path in paths.items()}
    if args.json:
        print(json.dumps({name: ds.metadata for name, ds in datasets.items()}, indent=1, ensure_ascii=False))
        return 0
    from rich.console import Console

    console = Console()
    if header:
        console.print(header, highlight=False, markup=False)
    _print_summary(console, datasets)
    if args.verbose:
        for name, ds in datasets.items():
            _print_dataset(console, name, ds)
    return 0


def _text(value: Any) -> Any:
    """User-controlled text as a rich ``Text``: never parsed as markup."""
    from rich.text import Text

    return Text(str(value))


def _print_summary(console: Any, datasets: dict[str, Any]) -> None:
    """Splits × counts, target statistics of the training split, provenance once."""
    from rich.table import Table

    splits = Table(title="splits", title_justify="left")
    for column in ("split", "structures", "atoms", "atoms per structure"):
        splits.add_column(column, justify="left" if column == "split" else "right")
    for name, ds in datasets.items():
        stats = ds.statistics
        hist = stats.num_atoms_histogram
        sizes = f"{min(hist)}–{max(hist)}, mean {stats.num_atoms / max(len(ds), 1):.1f}" if hist else ""
        splits.add_row(_text(name), str(len(ds)), str(stats.num_atoms), sizes)
    console.print(splits)
    reference_name = "train" if "train" in datasets else next(iter(datasets))
    reference = datasets[reference_name]
    stats = reference.statistics
    # positions_relaxed is stored as a target, but its "mean" is a mean coordinate: no target statistic
    targets = {k: t for k, t in stats.targets.items() if t.unit != "Å"}
    if targets:
        title = f"targets ({reference_name} statistics; per-atom targets over components)" if len(datasets) > 1 else "targets"
        table = Table(title=title, title_justify="left")
        for column in ("target", "unit", "mean", "std"):
            table.add_column(column, justify="left" if column in ("target", "unit") else "right")
        for name, t in targets.items():
            table.add_row(_text(name), _text(t.unit or "—"), f"{t.mean:.5g}", f"{t.std:.5g}")
        console.print(table)
    for name, ref in stats.linear_references.items():
        console.print(
            f"{name}: per-element linear reference leaves a residual std of {ref.residual_std:.4g} eV "
            f"({ref.residual_per_atom_std:.4g} eV/atom)", highlight=False, markup=False,
        )  # fmt: skip
    from matforge.elements import SYMBOLS

    elements = ", ".join(f"{SYMBOLS[z]} {c}" for z, c in sorted(stats.element_counts.items()))
    console.print(f"elements ({reference_name}, atoms): {elements}", highlight=False, markup=False)
    provenance = {k: v for k, v in reference.provenance.items() if v is not None and k not in _SPLIT_PROVENANCE}
    if provenance:
        console.print("provenance:", highlight=False, markup=False)
        for key, value in provenance.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            console.print(f"  {key}: {text if len(text) <= 160 else text[:160] + ' …'}", highlight=False, markup=False, soft_wrap=True)
    if len(datasets) > 1 or provenance:
        console.print("(--verbose: fields, full statistics and provenance of every split)", highlight=False, markup=False)


#: Provenance entries that differ per split (shown with --verbose only).
_SPLIT_PROVENANCE = frozenset({"part", "split", "rejected", "key_map"})


def _print_dataset(console: Any, name: str, ds: Any) -> None:
    from rich.table import Table

    from matforge.elements import SYMBOLS

    stats = ds.statistics
    meta = ds.metadata
    console.rule(_text(name))
    console.print(
        f"{ds.path}\n{len(ds)} structures, {stats.num_atoms} atoms, {len(meta['shards'])} shard(s) "
        f"({', '.join(str(s['count']) for s in meta['shards'])}), schema version {meta['schema_version']}",
        highlight=False, markup=False,
    )  # fmt: skip
    fields = Table(title="fields", title_justify="left")
    for column in ("field", "dtype", "shape", "unit", "structures"):
        fields.add_column(column)
    for field, entry in ds.fields.items():
        shape = "[" + ", ".join(str(d) for d in entry["shape"]) + "]"
        fields.add_row(_text(field), _text(entry["dtype"]), _text(shape), _text(entry.get("unit", "")), str(entry["count"]))
    console.print(fields)
    if stats.targets:
        table = Table(title="targets (std over structures; per-atom targets over components)", title_justify="left")
        for column in ("target", "unit", "count", "mean", "std", "rms"):
            table.add_column(column, justify="right" if column not in ("target", "unit") else "left")
        for target, t in stats.targets.items():
            table.add_row(_text(target), _text(t.unit), str(t.count), f"{t.mean:.6g}", f"{t.std:.6g}", f"{t.rms:.6g}")
        console.print(table)
    for target, ref in stats.linear_references.items():
        refs = ", ".join(f"{SYMBOLS[z]} {c:.4f}" for z, c in sorted(ref.element_energies.items()))
        console.print(
            f"{target}: linear reference (eV/atom) {refs}\n"
            f"  residual per structure: mean {ref.residual_mean:.4g} eV, std {ref.residual_std:.4g} eV; "
            f"per atom: mean {ref.residual_per_atom_mean:.4g}, std {ref.residual_per_atom_std:.4g} eV/atom",
            highlight=False, markup=False,
        )  # fmt: skip
    if stats.force_rms is not None:
        console.print(f"force RMS (per component): {stats.force_rms:.4g} eV/Å", highlight=False, markup=False)
    hist = stats.num_atoms_histogram
    if hist:
        sizes = sorted(hist)
        mean = sum(k * v for k, v in hist.items()) / max(sum(hist.values()), 1)
        top = ", ".join(f"{k}: {v}" for k, v in sorted(hist.items(), key=lambda kv: -kv[1])[:8])
        console.print(f"atoms per structure: {sizes[0]}–{sizes[-1]}, mean {mean:.1f} (most common {top})", highlight=False, markup=False)
    elements = ", ".join(f"{SYMBOLS[z]} {c}" for z, c in sorted(stats.element_counts.items()))
    console.print(f"elements (atoms): {elements}", highlight=False, markup=False)
    provenance = ds.provenance
    if provenance:
        console.print("provenance:", highlight=False, markup=False)
        for key, value in provenance.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            if len(text) > 300:
                text = text[:300] + " …"
            console.print(f"  {key}: {text}", highlight=False, soft_wrap=True, markup=False)
