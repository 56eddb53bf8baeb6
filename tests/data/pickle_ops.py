"""A tiny pickle assembler: hostile records are written opcode by opcode in the tests.

Each helper returns the opcodes that push one value; :func:`record` wraps them into a whole
pickle. Nothing here unpickles anything.
"""

from __future__ import annotations

import pickle
import struct

MARK, TUPLE, REDUCE, BUILD, STOP = b"(", b"t", b"R", b"b", b"."
EMPTY_DICT, SETITEM, EMPTY_LIST, APPEND = b"}", b"s", b"]", b"a"
NONE, FALSE, TRUE, POP = b"N", b"\x89", b"\x88", b"0"
NEWOBJ, NEWOBJ_EX = b"\x81", b"\x92"
NUMPY = "numpy._core.multiarray"


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def raw(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def num(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + REDUCE


def put(slot: int) -> bytes:
    return b"r" + struct.pack("<I", slot)


def get(slot: int) -> bytes:
    return b"j" + struct.pack("<I", slot)


def dict_of(**items: bytes) -> bytes:
    return EMPTY_DICT + b"".join(text(k) + v + SETITEM for k, v in items.items())


def record(value: bytes) -> bytes:
    return b"\x80\x04" + value + STOP


def dtype(spec: str, byteorder: str = "|", names: bytes = NONE) -> bytes:
    """``numpy.dtype(spec)`` and its BUILD state, as numpy pickles it."""
    state = tup(num(3), text(byteorder), NONE, names, NONE, num(-1), num(-1), num(0))
    return call(glob("numpy", "dtype"), text(spec), FALSE, TRUE) + state + BUILD


def array(spec: str, shape: tuple[int, ...], data: bytes) -> bytes:
    """``numpy.ndarray`` as numpy pickles it: ``_reconstruct`` then one BUILD."""
    empty = call(glob(NUMPY, "_reconstruct"), glob("numpy", "ndarray"), tup(num(0)), raw(b"b"))
    state = tup(num(1), tup(*map(num, shape)), dtype(spec, "<" if spec[0] in "fiu" and spec[1:] != "1" else "|"), FALSE, raw(data))
    return empty + state + BUILD


def legacy_storage(kind: str, data: bytes, numel: int) -> bytes:
    """torch's legacy ``torch.save(storage)`` stream, as ``_load_from_bytes`` receives it."""
    header = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    ref = b"\x80\x02" + tup(text("storage"), glob("torch", kind), text("k0"), text("cpu"), num(numel), NONE) + b"Q" + STOP
    return header + ref + pickle.dumps(["k0"], protocol=2) + struct.pack("<q", numel) + data


def tensor(kind: str, data: bytes, numel: int, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """``torch._utils._rebuild_tensor_v2`` over a legacy storage, as ``pickle.dumps(tensor)`` writes."""
    storage = call(glob("torch.storage", "_load_from_bytes"), raw(legacy_storage(kind, data, numel)))
    hooks = call(glob("collections", "OrderedDict"))
    return call(glob("torch._utils", "_rebuild_tensor_v2"), storage, num(offset), tup(*map(num, size)), tup(*map(num, stride)), FALSE, hooks)
