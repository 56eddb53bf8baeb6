"""Slabs, adsorption sites, adsorbates and their placement (OC20 conventions).

OC20 tags: 0 subsurface (here: the fixed bottom layers), 1 surface (the free top layers),
2 adsorbate. ``fixed`` is exactly ``tags == 0``.
"""

from __future__ import annotations

import importlib.resources
import pickle
from dataclasses import dataclass
from functools import cache

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100, fcc110, fcc111, fcc211
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.data import covalent_radii

#: Metals EMT covers (adsorbate elements H, C, N, O are covered too).
METALS: tuple[str, ...] = ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")
#: Elements allowed in an adsorbate (EMT covers them).
ADSORBATE_ELEMENTS = frozenset({"H", "C", "N", "O"})

#: facet -> (ase builder, surface cell size (a, b, layers)). fcc211 is the stepped facet
#: (3-atom (111) terraces with (100) steps); its first size entry must be a multiple of 3.
FACETS: dict[str, tuple] = {
    "111": (fcc111, (3, 3, 4)),
    "100": (fcc100, (3, 3, 4)),
    "110": (fcc110, (2, 3, 4)),
    "211": (fcc211, (3, 3, 3)),
}

VACUUM = 8.0  # Å of vacuum on each side of the slab
FIXED_FRACTION = 0.45  # atoms in the bottom 45 % of the slab thickness are fixed (tag 0)

TAG_SUBSURFACE, TAG_SURFACE, TAG_ADSORBATE = 0, 1, 2


# -- metals and slabs ------------------------------------------------------------------------


@cache
def emt_lattice_constant(metal: str) -> float:
    """The fcc lattice constant (Å) that minimises the EMT bulk energy (so slabs are unstrained)."""
    from scipy.optimize import minimize_scalar

    a_ref = bulk(metal, "fcc", cubic=True).cell[0, 0]

    def energy(a: float) -> float:
        atoms = bulk(metal, "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        return float(atoms.get_potential_energy())

    res = minimize_scalar(energy, bounds=(0.9 * a_ref, 1.1 * a_ref), method="bounded", options={"xatol": 1e-5})
    return round(float(res.x), 5)


def nearest_neighbour_distance(metal: str) -> float:
    return emt_lattice_constant(metal) / np.sqrt(2.0)


def build_slab(metal: str, facet: str) -> Atoms:
    """An unrelaxed fcc slab with vacuum, OC20 tags (0 fixed bottom, 1 free top) and FixAtoms."""
    if metal not in METALS:
        raise ValueError(f"unknown metal {metal!r}; choose from {METALS}")
    if facet not in FACETS:
        raise ValueError(f"unknown facet {facet!r}; choose from {sorted(FACETS)}")
    builder, size = FACETS[facet]
    slab = builder(metal, size=size, a=emt_lattice_constant(metal), vacuum=VACUUM)
    slab.pbc = (True, True, True)
    z = slab.positions[:, 2]
    fixed = z < z.min() + FIXED_FRACTION * (z.max() - z.min())
    slab.set_tags(np.where(fixed, TAG_SUBSURFACE, TAG_SURFACE))
    slab.set_constraint(FixAtoms(mask=fixed))
    return slab


# -- adsorption sites ------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    kind: str  # "top", "bridge" or "hollow"
    xy: tuple[float, float]  # Cartesian position in the surface plane (Å)
    z: float  # height of the highest slab atom that defines the site (Å)


def _lateral_images(cell: np.ndarray) -> np.ndarray:
    """In-plane lattice translations (-1..1 along a and b), [9, 3]."""
    return np.array([i * cell[0] + j * cell[1] for i in (-1, 0, 1) for j in (-1, 0, 1)])


def exposed_atoms(slab: Atoms, nn: float) -> np.ndarray:
    """Indices of free slab atoms with no other atom above them within 0.8 nn laterally."""
    pos = slab.positions
    free = np.flatnonzero(slab.get_tags() == TAG_SURFACE)
    shifts = _lateral_images(np.asarray(slab.cell))
    out = []
    for i in free:
        above = pos[pos[:, 2] > pos[i, 2] + 0.3]
        if len(above):
            d = (above[None, :, :2] + shifts[:, None, :2]) - pos[i, :2]
            if np.min(np.linalg.norm(d, axis=-1)) < 0.8 * nn:
                continue
        out.append(int(i))
    return np.array(out, dtype=np.int64)


def find_sites(slab: Atoms, metal: str) -> list[Site]:
    """Top, bridge and hollow sites from a periodic 2-D Delaunay triangulation of the exposed
    atoms: bridges on edges shorter than 1.2 nn (3-D), hollows at the circumcentres of
    triangles whose edges are all shorter than 1.5 nn. Deterministic order."""
    from scipy.spatial import Delaunay

    nn = nearest_neighbour_distance(metal)
    cell = np.asarray(slab.cell)
    idx = exposed_atoms(slab, nn)
    pos = slab.positions[idx]
    shifts = _lateral_images(cell)
    ext = np.concatenate([pos + s for s in shifts])  # 9 images of the exposed atoms
    inv = np.linalg.inv(cell[:2, :2])

    def frac(xy):
        return np.asarray(xy) @ inv

    def in_cell(xy) -> bool:
        f = frac(xy)
        return bool(np.all(f >= -1e-6) and np.all(f < 1 - 1e-6))

    sites: list[Site] = [Site("top", (float(p[0]), float(p[1])), float(p[2])) for p in pos]
    tri = Delaunay(ext[:, :2])
    edges = set()
    for simplex in tri.simplices:
        a, b, c = (int(v) for v in simplex)
        for u, v in ((a, b), (b, c), (a, c)):
            edges.add((min(u, v), max(u, v)))
        pa, pb, pc = ext[a], ext[b], ext[c]
        lengths = [np.linalg.norm(pa - pb), np.linalg.norm(pb - pc), np.linalg.norm(pa - pc)]
        if max(lengths) < 1.5 * nn:
            centre = _circumcentre(pa[:2], pb[:2], pc[:2])
            if in_cell(centre):
                sites.append(Site("hollow", (float(centre[0]), float(centre[1])), float(max(pa[2], pb[2], pc[2]))))
    for u, v in sorted(edges):
        if np.linalg.norm(ext[u] - ext[v]) < 1.2 * nn:
            mid = 0.5 * (ext[u, :2] + ext[v, :2])
            if in_cell(mid):
                sites.append(Site("bridge", (float(mid[0]), float(mid[1])), float(max(ext[u, 2], ext[v, 2]))))
    # de-duplicate (a square's two triangles share one circumcentre) and order deterministically
    unique: dict[tuple, Site] = {}
    order = {"top": 0, "bridge": 1, "hollow": 2}
    for s in sites:
        f = np.round(frac(s.xy) % 1.0, 2) % 1.0
        key = (s.kind, float(f[0]), float(f[1]))
        if key not in unique:
            unique[key] = s
    return [unique[k] for k in sorted(unique, key=lambda k: (order[k[0]], k[1], k[2]))]


def _circumcentre(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = 2.0 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    sa, sb, sc = a @ a, b @ b, c @ c
    ux = (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d
    uy = (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d
    return np.array([ux, uy])


# -- adsorbates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adsorbate:
    index: int  # index in fairchem-data-oc's adsorbates.pkl
    name: str  # OC20 SMILES-like name, e.g. "*CO"
    symbols: tuple[str, ...]
    positions: np.ndarray  # [n, 3] Å
    binding: tuple[int, ...]  # indices of the atoms that bind to the surface


def load_adsorbates() -> list[Adsorbate]:
    """The OC20 adsorbates from ``fairchem-data-oc`` made only of H, C, N and O, by index."""
    try:
        ref = importlib.resources.files("fairchem.data.oc").joinpath("databases/pkls/adsorbates.pkl")
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "the adsorbate database needs fairchem-data-oc: pip install --no-deps fairchem-data-oc"
        ) from err
    with ref.open("rb") as fh:
        db = pickle.load(fh)  # trusted file from a pinned package (ase.Atoms objects)
    out = []
    for key in sorted(db):
        atoms, name, binding, _reaction = db[key]
        symbols = tuple(atoms.get_chemical_symbols())
        if not set(symbols) <= ADSORBATE_ELEMENTS:
            continue
        out.append(
            Adsorbate(
                index=int(key),
                name=str(name),
                symbols=symbols,
                positions=np.array(atoms.positions, dtype=np.float64),
                binding=tuple(int(b) for b in np.atleast_1d(binding)),
            )
        )
    return out


# -- placement -------------------------------------------------------------------------------


class PlacementError(RuntimeError):
    """No orientation of the adsorbate passed the minimum-distance checks at this site."""


def _rotation_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def upright(positions: np.ndarray, binding: tuple[int, ...]) -> np.ndarray:
    """Positions relative to the binding atoms' centre, rotated so that the rest of the molecule
    points away from the surface (+z); with two or more binding atoms the first two stay level."""
    rel = positions - positions[list(binding)].mean(axis=0)
    u = rel.mean(axis=0)
    if len(binding) >= 2:
        e1 = rel[binding[1]] - rel[binding[0]]
        e1 /= np.linalg.norm(e1)
        e3 = u - (u @ e1) * e1
        if np.linalg.norm(e3) < 1e-6:
            e3 = np.cross(e1, [0.0, 0.0, 1.0] if abs(e1[2]) < 0.9 else [1.0, 0.0, 0.0])
        e3 /= np.linalg.norm(e3)
    else:
        if np.linalg.norm(u) < 1e-6:
            return rel
        e3 = u / np.linalg.norm(u)
        e1 = np.cross(e3, [1.0, 0.0, 0.0] if abs(e3[0]) < 0.9 else [0.0, 1.0, 0.0])
        e1 /= np.linalg.norm(e1)
    e2 = np.cross(e3, e1)
    return rel @ np.stack([e1, e2, e3]).T


def place_adsorbate(
    slab: Atoms,
    adsorbate: Adsorbate,
    site: Site,
    rng: np.random.Generator,
    *,
    tries: int = 8,
    binding_scale: float = 1.0,
    clash_scale: float = 1.05,
    max_overshoot: float = 1.3,
    min_image_distance: float = 2.0,
) -> tuple[Atoms, float]:
    """Put ``adsorbate`` on ``site`` of ``slab`` with its binding atoms' centre over the site.

    Orientations tried: the database's own (``tries`` random rotations about the surface
    normal), then the molecule turned upright (binding atoms lowest, ``tries`` more). For each,
    the height is the lowest at which every binding atom is at least ``binding_scale`` × (sum
    of covalent radii) from every slab atom and every other adsorbate atom ``clash_scale`` ×
    that (the minimum-distance check). An orientation is rejected if its binding atoms then sit
    further than ``max_overshoot`` × the bonding distance from the surface (another atom holds
    them off) or an atom comes within ``min_image_distance`` Å of a periodic image of the
    adsorbate. Returns (slab+adsorbate with tags 2 and FixAtoms, rotation angle in radians).

    Raises:
        PlacementError: when no orientation passes.
    """
    n_ads = len(adsorbate.symbols)
    numbers = Atoms(adsorbate.symbols).numbers
    r_ads = covalent_radii[numbers]
    r_slab = covalent_radii[slab.numbers]
    binding = np.zeros(n_ads, dtype=bool)
    binding[list(adsorbate.binding)] = True
    scale = np.where(binding, binding_scale, clash_scale)[:, None]
    shifts = _lateral_images(np.asarray(slab.cell))
    slab_images = (slab.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    ideal = np.tile(r_ads[:, None] + r_slab[None, :], (1, len(shifts)))  # [n_ads, 9 n_slab]
    nonzero_shifts = shifts[np.any(np.abs(shifts) > 1e-9, axis=1)]
    as_stored = adsorbate.positions - adsorbate.positions[list(adsorbate.binding)].mean(axis=0)
    orientations = [as_stored] * tries + [upright(adsorbate.positions, adsorbate.binding)] * tries
    origin = np.array([site.xy[0], site.xy[1], site.z])

    for base in orientations:
        theta = float(rng.uniform(0.0, 2.0 * np.pi))
        rel = base @ _rotation_z(theta).T
        p = None
        for h in np.arange(0.4, 4.5, 0.02):
            trial = rel + origin + np.array([0.0, 0.0, h])
            d = np.linalg.norm(trial[:, None, :] - slab_images[None, :, :], axis=-1)
            if np.all(d >= scale * ideal):
                p = trial
                break
        if p is None:
            continue
        d = np.linalg.norm(p[binding, None, :] - slab_images[None, :, :], axis=-1)
        if np.min(d / ideal[binding]) > max_overshoot:
            continue  # another atom holds the binding atoms away from the surface
        img = (p[None, :, None, :] + nonzero_shifts[:, None, None, :]) - p[None, None, :, :]
        if np.min(np.linalg.norm(img, axis=-1)) < min_image_distance:
            continue  # too close to its own periodic image
        system = slab.copy()
        system += Atoms(adsorbate.symbols, positions=p, tags=np.full(n_ads, TAG_ADSORBATE))
        system.set_constraint(FixAtoms(mask=system.get_tags() == TAG_SUBSURFACE))
        return system, theta
    raise PlacementError(f"could not place {adsorbate.name} on a {site.kind} site")
