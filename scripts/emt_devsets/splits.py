"""Splits mirroring the OC20 paper's Table 2 and the seeded candidate systems for each.

- ``train``, ``val_id``: in-domain adsorbates on in-domain catalysts (disjoint systems);
- ``val_ood_ads``: held-out adsorbates on in-domain catalysts;
- ``val_ood_cat``: in-domain adsorbates on held-out catalysts;
- ``val_ood_both``: held-out adsorbates on held-out catalysts.

A catalyst is a (metal, facet) slab. Held out: every slab of one metal and every slab of one
facet family, so ``val_ood_cat`` holds metals or facets that ``train`` never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val_id", "val_ood_ads", "val_ood_cat", "val_ood_both")
HELD_OUT_METALS: tuple[str, ...] = ("Pd",)
HELD_OUT_FACETS: tuple[str, ...] = ("100",)
HELD_OUT_ADSORBATE_FRACTION = 0.2


@dataclass(frozen=True)
class SplitDesign:
    id_adsorbates: tuple[str, ...]
    ood_adsorbates: tuple[str, ...]
    id_catalysts: tuple[tuple[str, str], ...]
    ood_catalysts: tuple[tuple[str, str], ...]

    def adsorbates_for(self, split: str) -> tuple[str, ...]:
        return self.ood_adsorbates if split in ("val_ood_ads", "val_ood_both") else self.id_adsorbates

    def catalysts_for(self, split: str) -> tuple[tuple[str, str], ...]:
        return self.ood_catalysts if split in ("val_ood_cat", "val_ood_both") else self.id_catalysts

    def split_kind(self, metal: str, facet: str, adsorbate: str) -> str:
        """Which split family a system belongs to: ``id`` (train / val_id), ``val_ood_ads``,
        ``val_ood_cat`` or ``val_ood_both``."""
        ood_cat = (metal, facet) in self.ood_catalysts
        ood_ads = adsorbate in self.ood_adsorbates
        if ood_cat and ood_ads:
            return "val_ood_both"
        if ood_cat:
            return "val_ood_cat"
        if ood_ads:
            return "val_ood_ads"
        return "id"

    def to_dict(self) -> dict:
        return {
            "id_adsorbates": list(self.id_adsorbates),
            "ood_adsorbates": list(self.ood_adsorbates),
            "held_out_metals": list(HELD_OUT_METALS),
            "held_out_facets": list(HELD_OUT_FACETS),
            "id_catalysts": [f"{m}-fcc{f}" for m, f in self.id_catalysts],
            "ood_catalysts": [f"{m}-fcc{f}" for m, f in self.ood_catalysts],
        }


def design_splits(
    adsorbate_names,
    metals,
    facets,
    seed: int,
    *,
    held_out_metals=HELD_OUT_METALS,
    held_out_facets=HELD_OUT_FACETS,
    ood_fraction: float = HELD_OUT_ADSORBATE_FRACTION,
) -> SplitDesign:
    """Hold out a seeded ``ood_fraction`` of the adsorbates, and the catalysts made of a
    held-out metal or cut along a held-out facet."""
    names = list(adsorbate_names)
    rng = np.random.default_rng([seed, 7919])
    n_ood = max(1, round(ood_fraction * len(names)))
    ood = {names[k] for k in rng.permutation(len(names))[:n_ood]}
    catalysts = [(m, f) for m in metals for f in facets]
    ood_cat = [(m, f) for m, f in catalysts if m in held_out_metals or f in held_out_facets]
    return SplitDesign(
        id_adsorbates=tuple(n for n in names if n not in ood),
        ood_adsorbates=tuple(n for n in names if n in ood),
        id_catalysts=tuple(c for c in catalysts if c not in ood_cat),
        ood_catalysts=tuple(ood_cat),
    )


@dataclass(frozen=True)
class Candidate:
    """One adsorbate+slab system to build and relax."""

    sid: int
    split: str
    metal: str
    facet: str
    adsorbate: str
    site: int  # index into the slab's site list


def draw_candidates(
    design: SplitDesign,
    sites_per_catalyst: dict[tuple[str, str], list[str]],
    counts: dict[str, int],
    seed: int,
) -> list[Candidate]:
    """Seeded candidate systems, ``counts[split]`` per split, split after split; no two
    candidates share (metal, facet, adsorbate, site), so ``train`` and ``val_id`` hold
    different systems. ``sites_per_catalyst`` lists each slab's site kinds by site index; a
    site is drawn by kind first (top / bridge / hollow equally likely), then uniformly."""
    used: set[tuple] = set()
    out: list[Candidate] = []
    for split_no, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 104729, split_no])
        catalysts = design.catalysts_for(split)
        adsorbates = design.adsorbates_for(split)
        drawn, attempts = 0, 0
        while drawn < counts.get(split, 0):
            attempts += 1
            if attempts > 100 * counts[split] + 1000:
                raise RuntimeError(f"cannot draw {counts[split]} distinct systems for {split}")
            metal, facet = catalysts[rng.integers(len(catalysts))]
            adsorbate = adsorbates[rng.integers(len(adsorbates))]
            kinds = sites_per_catalyst[(metal, facet)]
            kind_names = sorted(set(kinds))
            kind = kind_names[rng.integers(len(kind_names))]
            choices = [k for k, v in enumerate(kinds) if v == kind]
            site = choices[rng.integers(len(choices))]
            key = (metal, facet, adsorbate, site)
            if key in used:
                continue
            used.add(key)
            out.append(Candidate(len(out), split, metal, facet, adsorbate, int(site)))
            drawn += 1
    return out
