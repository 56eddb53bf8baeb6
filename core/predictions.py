"""`Predictions`: what a task predicts for a set of structures, the one type and file layout
of ``task.predict``, ``matforge predict`` and ``matforge evaluate``.

A :class:`Predictions` maps each predicted quantity to a numpy array in physical units:
per-structure quantities with leading dimension G (``energy`` [G] eV, ``stress`` [G, 3, 3]
eV/Å³, properties [G] or [G, D]); per-atom quantities concatenated over the structures
(``forces`` [N, 3] eV/Å), split with ``num_atoms`` [G] (:meth:`Predictions.per_structure`).
When the structures carry the targets, ``references`` holds the dataset's values in the same
layout and ``scored`` [N] marks the atoms whose per-atom values count in metrics.

File layout (``<set>.npz``, written by :meth:`Predictions.save`, documented in
``docs/predictions.md``)::

    format          "matforge-predictions/1"
    name            the set's name (a split: val_id, test, …)
    num_atoms       [G] int       atoms per structure
    atomic_numbers  [N] int       every atom, structure after structure
    sid             [G] str       structure ids ("" when unknown)
    index           [G] int       position in the dataset (-1 when unknown)
    scored          [N] bool      atoms counted in per-atom metrics (fixed atoms left out)
    per_atom        [k] str       names of the per-atom quantities
    pred/<q>        predicted quantity q (layout above)
    ref/<q>         reference values of q, where the data has them
    target/<q>      0-d str: the dataset target q was compared with (energy → energy_relaxed)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matforge.errors import MatforgeUserError

#: Value of the ``format`` entry of a predictions file.
FORMAT = "matforge-predictions/1"


class PredictionsFileError(MatforgeUserError):
    """A file is not a matforge predictions file of this layout."""


@dataclass(eq=False)
class Predictions(Mapping[str, np.ndarray]):
    """Predicted quantities of G structures with N atoms in total (see the module docstring).

    Attributes:
        predicted: quantity → predicted array.
        num_atoms: [G] atoms per structure.
        atomic_numbers: [N] atomic numbers.
        per_atom: names of the quantities with one row per atom.
        references: quantity → reference array, for the quantities the data carries.
        targets: quantity → name of the dataset target it predicts.
        scored: [N] bool, atoms counted in per-atom metrics (all by default).
        sid: [G] structure ids; index: [G] dataset positions (-1: unknown).
        name: the set's name, also the file's stem.
    """

    predicted: dict[str, np.ndarray]
    num_atoms: np.ndarray
    atomic_numbers: np.ndarray
    per_atom: frozenset[str] = frozenset()
    references: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    scored: np.ndarray | None = None
    sid: np.ndarray | None = None
    index: np.ndarray | None = None
    name: str = "predict"

    def __post_init__(self) -> None:
        self.num_atoms = np.asarray(self.num_atoms, dtype=np.int64).reshape(-1)
        self.atomic_numbers = np.asarray(self.atomic_numbers, dtype=np.int64).reshape(-1)
        self.per_atom = frozenset(self.per_atom)
        g, n = self.num_structures, int(self.num_atoms.sum())
        if self.atomic_numbers.shape != (n,):
            raise ValueError(f"{self.name}: {self.atomic_numbers.shape[0]} atomic numbers for {n} atoms")
        self.scored = np.ones(n, bool) if self.scored is None else np.asarray(self.scored, dtype=bool)
        self.sid = np.full(g, "") if self.sid is None else np.asarray(self.sid, dtype=str)
        self.index = np.full(g, -1, np.int64) if self.index is None else np.asarray(self.index, dtype=np.int64)
        for label, arrays in (("predicted", self.predicted), ("reference", self.references)):
            for q, value in arrays.items():
                rows = n if q in self.per_atom else g
                if np.shape(value)[:1] != (rows,):
                    raise ValueError(f"{self.name}: {label} {q!r} has shape {np.shape(value)}, expected {rows} rows")
        for what, array, rows in (("scored", self.scored, n), ("sid", self.sid, g), ("index", self.index, g)):
            if array.shape != (rows,):
                raise ValueError(f"{self.name}: {what} has shape {array.shape}, expected ({rows},)")

    # -- the mapping of predicted quantities -------------------------------------------------

    def __getitem__(self, quantity: str) -> np.ndarray:
        return self.predicted[quantity]

    def __iter__(self) -> Iterator[str]:
        return iter(self.predicted)

    def __len__(self) -> int:
        return len(self.predicted)

    @property
    def num_structures(self) -> int:
        return int(self.num_atoms.shape[0])

    def per_structure(self, quantity: str, *, reference: bool = False) -> list[np.ndarray]:
        """``quantity`` as one array per structure (``forces``: G arrays [N_i, 3])."""
        value = (self.references if reference else self.predicted)[quantity]
        if quantity not in self.per_atom:
            return list(value)
        return np.split(value, np.cumsum(self.num_atoms)[:-1])

    def pair(self, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """``(predicted, reference)`` of ``quantity``; per-atom values of the scored atoms only."""
        if quantity not in self.references:
            raise KeyError(f"{self.name}: no reference values of {quantity!r} (have {sorted(self.references)})")
        pred, ref = self.predicted[quantity], self.references[quantity]
        if quantity in self.per_atom:
            return pred[self.scored], ref[self.scored]
        return pred, ref

    def structure_index(self) -> np.ndarray:
        """[N] the structure of each atom."""
        return np.repeat(np.arange(self.num_structures), self.num_atoms)

    def with_predicted(self, predicted: Mapping[str, np.ndarray], name: str | None = None) -> Predictions:
        """The same structures and references with other ``predicted`` values (a baseline's)."""
        return Predictions(dict(predicted), self.num_atoms, self.atomic_numbers, self.per_atom, dict(self.references),
                           dict(self.targets), self.scored, self.sid, self.index, name or self.name)  # fmt: skip

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions], name: str | None = None) -> Predictions:
        """Batches' predictions as one set, in the order given (quantities every part has)."""
        if not parts:
            raise ValueError("no predictions to concatenate")
        first = parts[0]

        def joined(get) -> dict[str, np.ndarray]:
            common = set.intersection(*(set(get(p)) for p in parts))
            return {q: np.concatenate([get(p)[q] for p in parts]) for q in get(first) if q in common}

        return cls(
            predicted=joined(lambda p: p.predicted),
            num_atoms=np.concatenate([p.num_atoms for p in parts]),
            atomic_numbers=np.concatenate([p.atomic_numbers for p in parts]),
            per_atom=first.per_atom,
            references=joined(lambda p: p.references),
            targets=dict(first.targets),
            scored=np.concatenate([p.scored for p in parts]),
            sid=np.concatenate([p.sid for p in parts]),
            index=np.concatenate([p.index for p in parts]),
            name=name or first.name,
        )

    # -- the file ------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (a ``.npz`` file; a folder gets ``<folder>/<name>.npz``)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path / f"{self.name}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "name": np.array(self.name),
            "num_atoms": self.num_atoms,
            "atomic_numbers": self.atomic_numbers,
            "sid": self.sid,
            "index": self.index,
            "scored": self.scored,
            "per_atom": np.array(sorted(self.per_atom), dtype=str),
        }
        arrays.update({f"pred/{q}": np.asarray(v) for q, v in self.predicted.items()})
        arrays.update({f"ref/{q}": np.asarray(v) for q, v in self.references.items()})
        arrays.update({f"target/{q}": np.array(t) for q, t in self.targets.items()})
        np.savez(path, **arrays)  # uncompressed: float predictions barely compress, and zlib cost 10% of evaluate
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Predictions:
        """Read a file written by :meth:`save`; any other file raises
        :class:`PredictionsFileError` naming it."""
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PredictionsFileError(f"{path} is not a readable .npz file: {exc}") from None
        with data:
            found = str(data["format"]) if "format" in data.files else None
            if found != FORMAT:
                raise PredictionsFileError(
                    f"{path} is not a {FORMAT} file (format: {found or 'none'}); files of older matforge "
                    "versions are not read: run 'matforge evaluate' or 'matforge predict' again"
                )

            def prefixed(prefix: str) -> dict[str, np.ndarray]:
                return {k.removeprefix(prefix): data[k] for k in data.files if k.startswith(prefix)}

            return cls(
                predicted=prefixed("pred/"),
                num_atoms=data["num_atoms"],
                atomic_numbers=data["atomic_numbers"],
                per_atom=frozenset(str(q) for q in data["per_atom"]),
                references=prefixed("ref/"),
                targets={q: str(t) for q, t in prefixed("target/").items()},
                scored=data["scored"],
                sid=data["sid"],
                index=data["index"],
                name=str(data["name"]),
            )


def load_predictions(folder: str | os.PathLike) -> list[Predictions]:
    """Every ``<set>.npz`` in ``folder`` (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [Predictions.load(p) for p in sorted(folder.glob("*.npz"))]
