"""The devsets shipped with matforge, registered under kind ``dataset``.

A devset is a directory of named splits, each a matforge dataset (format v1):
``matforge/devsets/<name>/<split>/``. Anywhere a dataset path is accepted, ``devset:NAME/SPLIT``
is accepted too (``devset:NAME`` where a whole devset makes sense, e.g. ``matforge data info``).

``devset:NAME`` resolves through the registry only (kind ``dataset``), so a plugin's
:class:`Devset` (registered with ``path=`` its own directory) works wherever a shipped one
does: the CLI, :class:`~matforge.data.datamodule.AtomicDataModule`, ``matforge data``.

This module must stay light: plugin discovery imports it, so no torch and no lmdb here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEVSET_PREFIX = "devset:"
DEVSETS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Devset:
    """A shipped devset: its splits and where they live.

    Attributes:
        name: registry name (kind ``dataset``).
        summary: one line for ``matforge list``.
        splits: split names, training split first.
        task: the task it is meant for (``is2re``, ``s2ef``).
        citation: what to cite when using it.
        default_properties: what a ``property`` task predicts on it unless told otherwise.
        path: the directory holding the splits (default: the shipped devsets' directory /
            ``name``); plugins registering their own devsets set it.
    """

    name: str
    summary: str
    splits: tuple[str, ...]
    task: str
    citation: str = ""
    default_properties: tuple[str, ...] = ()
    path: str | os.PathLike[str] | None = None

    @property
    def root(self) -> Path:
        return Path(self.path) if self.path is not None else DEVSETS_DIR / self.name

    def split_path(self, split: str) -> Path:
        """Directory of ``split``; raises naming the available splits."""
        if split not in self.splits:
            from matforge.data.errors import UnknownDevsetError

            raise UnknownDevsetError(
                f"devset {self.name!r} has no split {split!r}; its splits: {', '.join(self.splits)}"
            )
        return self.root / split

    @property
    def validation_splits(self) -> tuple[str, ...]:
        return tuple(s for s in self.splits if s.startswith("val"))


DEVSETS: dict[str, Devset] = {
    d.name: d
    for d in (
        Devset(
            name="emt-is2re",
            summary="synthetic EMT adsorbate/slab relaxations in the OC20 IS2RE layout (not OC20 data)",
            splits=("train", "val_id", "val_ood_ads", "val_ood_cat", "val_ood_both"),
            task="is2re",
        ),
        Devset(
            name="emt-s2ef",
            summary="synthetic EMT relaxation frames with energies and forces, OC20 S2EF layout (not OC20 data)",
            splits=("train", "val_id", "val_ood_ads", "val_ood_cat", "val_ood_both"),
            task="s2ef",
        ),
        Devset(
            name="lips",
            summary="LiPS: 200 DFT molecular-dynamics frames of Li6.75P3S11 with energies and forces",
            splits=("train", "val", "test"),
            task="s2ef",
            citation=(
                "LiPS data set, Materials Cloud archive record 2022.45 "
                "(https://archive.materialscloud.org/record/2022.45); devset frames from the "
                "IntelLabs matsciml repository (MIT)"
            ),
        ),
        Devset(
            name="qm9",
            summary="QM9: 1,500 small organic molecules (DFT) with 12 properties (gap, U0, mu, ...)",
            splits=("train", "val", "test"),
            task="property",
            citation=(
                "R. Ramakrishnan, P. O. Dral, M. Rupp, O. A. von Lilienfeld, Scientific Data 1, "
                "140022 (2014); molecules from the qm9pack package (MIT)"
            ),
            default_properties=("gap",),
        ),
    )
}


def get_devset(name: str) -> Devset:
    """The devset registered as dataset ``name`` (shipped or a plugin's); an unknown name
    raises listing the available ones."""
    from matforge.data.errors import UnknownDevsetError
    from matforge.registry import UnknownNameError, registry

    try:
        devset = registry.get("dataset", name)
    except UnknownNameError:
        import difflib

        available = registry.names("dataset")
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownDevsetError(f"unknown devset {name!r}.{hint} Available devsets: {', '.join(available)}") from None
    if not all(hasattr(devset, a) for a in ("name", "splits", "split_path", "task")):
        info = registry.info("dataset", name)
        raise UnknownDevsetError(
            f"dataset {name!r} registered by {info.distribution or info.plugin} is a "
            f"{type(devset).__name__}, not a matforge.devsets.catalog.Devset (devset:NAME needs one)"
        )
    return devset


def parse_devset(spec: str) -> tuple[Devset, str | None] | None:
    """``(devset, split)`` for ``"devset:NAME[/SPLIT]"``; ``None`` for anything else."""
    if not isinstance(spec, str) or not spec.startswith(DEVSET_PREFIX):
        return None
    name, _, split = spec[len(DEVSET_PREFIX):].partition("/")
    return get_devset(name), (split or None)


def resolve_dataset_path(path_or_devset: str | os.PathLike[str]) -> Path:
    """The dataset directory a path or ``devset:NAME/SPLIT`` names.

    ``devset:NAME`` alone resolves only for a devset with one split; otherwise the error
    lists the splits to choose from.
    """
    parsed = parse_devset(str(path_or_devset)) if isinstance(path_or_devset, str) else None
    if parsed is None:
        return Path(path_or_devset)
    devset, split = parsed
    if split is None:
        if len(devset.splits) == 1:
            split = devset.splits[0]
        else:
            from matforge.data.errors import UnknownDevsetError

            raise UnknownDevsetError(
                f"devset {devset.name!r} has several splits; name one, e.g. "
                f"'devset:{devset.name}/{devset.splits[0]}' (splits: {', '.join(devset.splits)})"
            )
    path = devset.split_path(split)
    if not path.is_dir():
        raise FileNotFoundError(
            f"devset {devset.name!r} split {split!r} is missing from this installation ({path}); "
            "reinstall matforge, or rebuild the devset with its generator script (see scripts/)"
        )
    return path


def register_devsets(registry) -> None:
    """Register every shipped devset under kind ``dataset`` (as :class:`Devset` objects)."""
    for devset in DEVSETS.values():
        registry.register("dataset", devset.name, devset, summary=devset.summary)
