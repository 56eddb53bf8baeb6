"""Read + decode throughput: matforge format v1 vs pickled dicts of torch tensors (matsciml).

Both stores hold the same structures (the LiPS devset frames, 83 atoms, energy and forces,
plus synthetic OC20-sized slabs with tags and fixed atoms). Each side reads every record once
in the same random order in a single process, with its LMDB opened the same way:

* matforge: ``AtomicDataset[i]`` → a validated-shape ``AtomicStructure`` (msgpack record,
  raw array buffers, float32 positions/forces).
* peer: ``pickle.loads(txn.get(key))`` → a dict of torch tensors, as matsciml's LMDB
  datasets store and read them (plain pickle, the fastest way it can be read).

Prints samples/s, the ratio (target ≥ 3×) and the files' sizes (target: ours no larger).
``--codecs`` also times the encodings considered for the format (msgpack vs safetensors).

    python benchmarks/bench_lmdb_decode.py [--repeats 5] [--codecs]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import lmdb
import numpy as np
import torch
from _report import record

from matforge.data import open_dataset, write_dataset
from matforge.structure import AtomicStructure


def slabs(count: int, seed: int = 0) -> list[AtomicStructure]:
    """OC20-sized synthetic slabs: 60-80 atoms on a jittered lattice, tags, fixed, targets."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n = int(rng.integers(60, 81))
        grid = np.stack(np.meshgrid(np.arange(5), np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 3)[:n]
        positions = grid * 2.6 + rng.uniform(-0.1, 0.1, (n, 3))
        out.append(AtomicStructure(
            positions=positions, atomic_numbers=rng.choice([29, 78, 1, 6, 8], n),
            cell=np.diag([13.0, 13.0, 30.0]), pbc=[True, True, True],
            tags=np.where(grid[:, 2] < 2, 0, np.where(grid[:, 2] < 3, 1, 2)), fixed=grid[:, 2] < 2,
            targets={"energy": np.array(rng.normal()), "forces": rng.normal(size=(n, 3))}, sid=k,
        ))  # fmt: skip
    return out


def matsciml_record(s: AtomicStructure) -> bytes:
    """The structure as matsciml stores it: a pickled dict of torch tensors."""
    record = {
        "pos": torch.from_numpy(s.positions.astype(np.float32)),
        "atomic_numbers": torch.from_numpy(s.atomic_numbers),
        "cell": torch.from_numpy(np.asarray(s.cell, dtype=np.float32)),
        "pbc": torch.from_numpy(s.pbc.copy()),
        "tags": torch.from_numpy(s.tags),
        "fixed": torch.from_numpy(s.fixed.copy()),
        "energy": float(s.targets["energy"]),
        "force": torch.from_numpy(s.targets["forces"].astype(np.float32)),
        "sid": s.sid,
    }
    return pickle.dumps(record)


def write_peer(path: Path, structures: list[AtomicStructure]) -> None:
    env = lmdb.open(str(path), subdir=False, map_size=1 << 30, lock=False)
    with env.begin(write=True) as txn:
        for k, s in enumerate(structures):
            txn.put(str(k).encode(), matsciml_record(s))
    env.close()


def time_ours(path: Path, order: np.ndarray, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        ds = open_dataset(path)
        ds[0]  # open the shard outside the timed loop, as the peer's env is
        start = time.perf_counter()
        for i in order:
            ds[int(i)]
        best = min(best, time.perf_counter() - start)
        ds.close()
    return len(order) / best


def time_peer(path: Path, order: np.ndarray, repeats: int) -> float:
    keys = [str(int(i)).encode() for i in order]
    best = np.inf
    for _ in range(repeats):
        env = lmdb.open(str(path), subdir=False, readonly=True, lock=False, readahead=False)
        start = time.perf_counter()
        for key in keys:
            with env.begin() as txn:
                pickle.loads(txn.get(key))
        best = min(best, time.perf_counter() - start)
        env.close()
    return len(order) / best


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def compare_codecs(structures: list[AtomicStructure], repeats: int) -> None:
    """msgpack with raw buffers (chosen) vs safetensors, decode only, same arrays."""
    import msgpack
    from safetensors.numpy import load, save

    from matforge.data.codec import _NUMPY_DTYPES as DTYPES
    from matforge.data.codec import decode_structure, encode_structure

    packed = [encode_structure(s) for s in structures]
    tensors = []
    for s in structures:
        arrays = {
            "atomic_numbers": s.atomic_numbers.astype(np.uint8), "positions": s.positions.astype(np.float32),
            "cell": np.asarray(s.cell), "pbc": s.pbc.astype(np.uint8), "tags": s.tags.astype(np.int8),
            "fixed": s.fixed.astype(np.uint8), "targets.energy": np.asarray(s.targets["energy"]).reshape(1),
            "targets.forces": s.targets["forces"].astype(np.float32),
        }  # fmt: skip
        tensors.append(save(arrays, metadata={"sid": str(s.sid)}))

    def best(fn, blobs) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for blob in blobs:
                fn(blob)
            times.append(time.perf_counter() - start)
        return min(times) / len(blobs) * 1e6

    def msgpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
        """The same work safetensors' load does: bytes → dict of numpy views."""
        record = msgpack.unpackb(blob)
        arrays = {k: record[k] for k in ("atomic_numbers", "positions", "cell", "tags", "fixed")}
        arrays.update(record["targets"])
        return {k: np.frombuffer(b, DTYPES[d]).reshape(shape) for k, (d, shape, b) in arrays.items()}

    msgpack_us = best(msgpack_arrays, packed)
    safetensors_us = best(load, tensors)
    structure_us = best(decode_structure, packed)
    print(f"codec decode to a dict of arrays, µs/record: msgpack+raw buffers {msgpack_us:.1f}, "
          f"safetensors {safetensors_us:.1f} (ratio {safetensors_us / msgpack_us:.1f}x); full "
          f"decode to AtomicStructure {structure_us:.1f}")  # fmt: skip
    print(f"codec size, bytes/record: msgpack {np.mean([len(b) for b in packed]):.0f}; "
          f"safetensors {np.mean([len(b) for b in tensors]):.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slabs", type=int, default=1000)
    parser.add_argument("--codecs", action="store_true", help="also compare msgpack and safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = {"lips (83 atoms, DFT)": list(open_dataset("devset:lips/train")) + list(open_dataset("devset:lips/val"))}
    sets["synthetic slabs (60-80 atoms)"] = slabs(args.slabs)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, structures in sets.items():
            for s in structures:
                s.ids.pop("index", None)
            ours, peer = Path(tmp) / f"ours-{len(structures)}", Path(tmp) / f"peer-{len(structures)}.lmdb"
            write_dataset(ours, structures, progress=False, min_distance=None)
            write_peer(peer, structures)
            order = rng.permutation(len(structures))
            rate_ours = time_ours(ours, order, args.repeats)
            rate_peer = time_peer(peer, order, args.repeats)
            print(f"{name}: {len(structures)} structures, single process, random order, best of {args.repeats}")
            print(f"  matforge v1 (msgpack, float32): {rate_ours:10.0f} samples/s   {size_of(ours) / 1e6:6.2f} MB")
            print(f"  matsciml-style pickled tensors: {rate_peer:10.0f} samples/s   {size_of(peer) / 1e6:6.2f} MB")
            print(f"  ratio: {rate_ours / rate_peer:.1f}x faster (target >= 3x); size ratio ours/peer "
                  f"{size_of(ours) / size_of(peer):.2f} (target <= 1)")  # fmt: skip
            record(f"decode {name}", rate_ours, "samples/s", peer="matsciml-style pickled tensors", peer_value=rate_peer)
            record(f"file size {name}", size_of(ours) / 1e6, "MB", peer="matsciml-style pickled tensors",
                   peer_value=size_of(peer) / 1e6, higher_is_better=False)  # fmt: skip
            if args.codecs:
                compare_codecs(structures, args.repeats)


if __name__ == "__main__":
    main()
