"""Which atoms of a structure are centres of a point cloud.

``"all"``: every atom. ``"oc20"`` (the toolkit paper, §3.3): adsorbate (tag 2) and surface
(tag 1) atoms, plus a random sample of subsurface (tag 0) atoms, drawn from a generator
seeded by (seed, epoch, the structure's identity), so the same structure gets the same centres
in every worker and every run, and other centres in another epoch.
"""

from __future__ import annotations

import zlib
from typing import Literal

import numpy as np

from matforge.errors import InvalidValueError
from matforge.structure import AtomicStructure

CentreMode = Literal["all", "oc20"]
CENTRE_MODES: tuple[str, ...] = ("all", "oc20")

#: OC20 tags (docs of :class:`~matforge.structure.AtomicStructure`).
SUBSURFACE, SURFACE, ADSORBATE = 0, 1, 2


def structure_key(structure: AtomicStructure) -> int:
    """A stable 32-bit identity of ``structure``: its ``sid``/``fid`` when it has a ``sid``,
    else its species and tags (never its positions, so that moving atoms, e.g. wrapping them
    into the cell, does not change which atoms are sampled). Python's ``hash`` is salted per
    process, so it cannot serve here."""
    if structure.sid is not None:
        text = f"sid={structure.sid!r};fid={structure.fid!r}".encode()
    else:
        text = structure.atomic_numbers.astype(np.int64).tobytes() + b";" + structure.tags.astype(np.int64).tobytes()
    return zlib.crc32(text)


def select_centres(
    structure: AtomicStructure,
    mode: CentreMode = "all",
    *,
    subsurface_centres: int = 4,
    seed: int = 0,
    epoch: int = 0,
) -> np.ndarray:
    """[C] int64 sorted atom indices of the centres of ``structure``.

    Args:
        mode: ``"all"`` or ``"oc20"``.
        subsurface_centres: in ``"oc20"`` mode, how many tag-0 atoms to sample (all of them
            when the structure has fewer).
        seed, epoch: seed the sample together with :func:`structure_key`.
    """
    n = structure.num_atoms
    if mode == "all":
        return np.arange(n, dtype=np.int64)
    if mode != "oc20":
        raise InvalidValueError(f"centres must be one of {list(CENTRE_MODES)}, got {mode!r}")
    tags = structure.tags
    kept = np.flatnonzero((tags == SURFACE) | (tags == ADSORBATE))
    subsurface = np.flatnonzero(tags == SUBSURFACE)
    count = min(subsurface_centres, len(subsurface))
    rng = np.random.default_rng([seed, epoch, structure_key(structure)])
    sampled = rng.choice(subsurface, size=count, replace=False) if count else subsurface[:0]
    centres = np.sort(np.concatenate([kept, sampled])).astype(np.int64)
    if len(centres) == 0:
        raise InvalidValueError(
            f"structure sid={structure.sid!r} has no centres in 'oc20' mode: no atom is tagged 1 "
            f"(surface) or 2 (adsorbate) and subsurface_centres={subsurface_centres}; use "
            "centres='all' for untagged data"
        )
    return centres
