"""Read legacy pickles (OC20 and matsciml LMDB values) without executing them.

:func:`safe_loads` is a ``pickle.Unpickler`` whose ``find_class`` knows a short list of
globals: what torch needs to rebuild a CPU tensor (``torch._utils._rebuild_tensor_v2`` over
``torch.storage._load_from_bytes``), numpy arrays, scalars and dtypes, ``collections.OrderedDict``
and the PyG ``Data`` / storage classes. Each is replaced by a local stand-in, so neither torch
nor torch_geometric is imported or needed, and tensors come back as numpy arrays. Any other
global (``os.system``, ``builtins.eval``, …) raises :class:`UnsafePickleError` before anything
is called.

The bytes inside ``_load_from_bytes`` are torch's legacy ``torch.save`` stream (a few small
pickles followed by raw storage bytes); they are parsed here with the same restrictions.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from typing import Any

import numpy as np

from matforge.data.errors import CorruptRecordError, UnsafePickleError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

#: torch storage class names → numpy dtypes.
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class PygData:
    """Stand-in for a pickled ``torch_geometric.data.Data`` (PyG 1.x or 2.x layout)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def fields(self) -> dict[str, Any]:
        """The data's fields: ``_store._mapping`` (PyG 2.x) or the instance dict (PyG 1.x)."""
        state = getattr(self, "state", None)
        if not isinstance(state, dict):
            raise CorruptRecordError("PyG Data pickle carries no field dictionary")
        store = state.get("_store")
        if isinstance(store, PygStorage):
            return dict(store.mapping())
        return {k: v for k, v in state.items() if not (k.startswith("__") and k.endswith("__"))}


class PygStorage:
    """Stand-in for ``torch_geometric.data.storage.*Storage`` (holds ``_mapping``)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def mapping(self) -> dict[str, Any]:
        state = getattr(self, "state", None)
        mapping = state.get("_mapping") if isinstance(state, dict) else None
        if not isinstance(mapping, dict):
            raise CorruptRecordError("PyG storage pickle carries no '_mapping'")
        return mapping


class _Marker:
    """Stand-in for a class the pickle only refers to (never instantiated with data)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _DataEdgeAttr(_Marker):
    pass


class _DataTensorAttr(_Marker):
    pass


class _StorageType:
    """A torch ``*Storage`` class named in a legacy stream: just its dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_: Any) -> np.ndarray:
    """A tensor as a numpy array (copy) from a flat storage array, offset, size, stride."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise CorruptRecordError("tensor pickle does not reference a storage")
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CorruptRecordError(f"tensor pickle has a negative size {size} or stride {stride}")
    if size and any(s == 0 for s in size):
        return np.zeros(size, dtype=storage.dtype)
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride))
    if int(offset) < 0 or last >= storage.size:
        raise CorruptRecordError(
            f"tensor of size {size} with stride {stride} at offset {offset} overruns its storage of "
            f"{storage.size} elements"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[int(offset):], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view)


def _rebuild_from_type_v2(func: Any, cls: Any, args: Any, state: Any) -> Any:
    if func is not _rebuild_tensor or cls is not _TensorClass:
        raise UnsafePickleError("tensor pickle rebuilds an unexpected type")
    return func(*args)


class _TensorClass(_Marker):
    pass


def _safe_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    dtype = np.dtype(spec)
    if dtype.hasobject or dtype.kind not in "biufc":
        raise UnsafePickleError(f"pickled numpy dtype {dtype!r} is not a plain number type")
    return dtype


def _safe_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafePickleError("pickled numpy array of a subclass is not allowed")
    return np.ndarray.__new__(np.ndarray, shape, _safe_dtype(dtype))


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _safe_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CorruptRecordError("pickled numpy scalar has the wrong number of bytes")
    return np.frombuffer(data, dtype=dtype)[0]


def _torch_size(values: Any = ()) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _load_from_bytes(data: bytes) -> np.ndarray:
    return _read_legacy_storage(data)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorClass,
    ("torch", "Size"): _torch_size,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("torch_geometric.data.data", "Data"): PygData,
    ("torch_geometric.data.data", "DataEdgeAttr"): _DataEdgeAttr,
    ("torch_geometric.data.data", "DataTensorAttr"): _DataTensorAttr,
    ("torch_geometric.data.storage", "GlobalStorage"): PygStorage,
    ("torch_geometric.data.storage", "BaseStorage"): PygStorage,
    ("torch_geometric.data.storage", "NodeStorage"): PygStorage,
    ("torch_geometric.data.storage", "EdgeStorage"): PygStorage,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, where: str) -> None:
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED.get((module, name))
        if target is None:
            raise UnsafePickleError(
                f"{self.where}: the pickle names the global {module}.{name}, which is not among "
                "the tensor, array and PyG Data types matforge allows; refusing to load it "
                "(nothing was executed)"
            )
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.where}: unexpected persistent id in pickle")


def safe_loads(data: bytes, *, where: str = "value") -> Any:
    """Unpickle ``data`` allowing only tensors (as numpy arrays), arrays, scalars, dicts,
    lists and PyG ``Data`` (as :class:`PygData`).

    Raises:
        UnsafePickleError: the pickle names any other global (nothing is called).
        CorruptRecordError: the bytes are not a complete pickle.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), where).load()
    except (UnsafePickleError, CorruptRecordError) as exc:
        if where in str(exc):
            raise
        raise type(exc)(f"{where}: {exc}") from None
    except Exception as exc:
        raise CorruptRecordError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc}); the value is "
            "truncated or corrupt"
        ) from None


class _StorageRef:
    def __init__(self, storage_type: _StorageType, key: str, numel: int) -> None:
        self.storage_type = storage_type
        self.key = key
        self.numel = numel


class _LegacyStreamUnpickler(pickle.Unpickler):
    """One pickle of torch's legacy ``torch.save`` stream; storages are persistent ids."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.refs: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise UnsafePickleError(
            f"legacy tensor stream names the global {module}.{name}; only torch storage types "
            "are allowed (nothing was executed)"
        )

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', type, key, location, numel[, view_metadata]); views are not written
        # by torch.save(storage), so view_metadata must be None.
        if not (
            isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and (len(pid) == 5 or pid[5] is None)
        ):  # fmt: skip
            raise CorruptRecordError(f"unsupported storage reference {pid!r} in legacy tensor stream")
        _, storage_type, key, _location, numel = pid[:5]
        ref = self.refs.setdefault(str(key), _StorageRef(storage_type, str(key), int(numel)))
        return ref


def _read_legacy_storage(data: bytes) -> np.ndarray:
    """The storage saved by ``torch.save(storage, _use_new_zipfile_serialization=False)``."""
    if not isinstance(data, (bytes, bytearray)):
        raise CorruptRecordError("tensor storage is not a byte string")
    if data[:2] == b"PK":
        raise CorruptRecordError("tensor storage in torch's zip format is not supported in legacy pickles")
    stream = io.BytesIO(data)

    def small_pickle() -> Any:
        return _RestrictedUnpickler(stream, "legacy tensor stream").load()

    try:
        if small_pickle() != _LEGACY_MAGIC:
            raise CorruptRecordError("tensor storage does not start with torch's legacy magic number")
        small_pickle()  # protocol version
        small_pickle()  # sys info: endianness and type sizes
        unpickler = _LegacyStreamUnpickler(stream)
        root = unpickler.load()
        keys = _RestrictedUnpickler(stream, "legacy tensor stream").load()
    except (UnsafePickleError, CorruptRecordError):
        raise
    except Exception as exc:
        raise CorruptRecordError(f"tensor storage stream is corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(root, _StorageRef) or not isinstance(keys, list):
        raise CorruptRecordError("legacy tensor stream does not hold a single storage")
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        ref = unpickler.refs.get(str(key))
        if ref is None:
            raise CorruptRecordError(f"legacy tensor stream lists unknown storage {key!r}")
        header = stream.read(8)
        if len(header) != 8:
            raise CorruptRecordError("legacy tensor stream is truncated (storage size missing)")
        (numel,) = struct.unpack("<q", header)
        dtype = ref.storage_type.dtype
        raw = stream.read(numel * dtype.itemsize)
        if numel != ref.numel or len(raw) != numel * dtype.itemsize:
            raise CorruptRecordError(
                f"legacy tensor stream is truncated: storage {key!r} should hold {ref.numel} "
                f"elements of {dtype}, found {len(raw) // max(dtype.itemsize, 1)}"
            )
        arrays[str(key)] = np.frombuffer(raw, dtype=dtype)
    if root.key not in arrays:
        raise CorruptRecordError("legacy tensor stream holds no data for its storage")
    return arrays[root.key]
