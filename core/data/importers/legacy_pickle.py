"""Read legacy pickles (OC20 and matsciml LMDB values) without executing them or trusting them.

:func:`safe_loads` works in two phases:

1. **Parse.** A ``pickle.Unpickler`` whose ``find_class`` knows a short list of globals (what
   torch needs to rebuild a CPU tensor, numpy arrays, scalars and dtypes, ``OrderedDict``, the
   PyG ``Data`` / storage classes). Each resolves to a local stand-in that only records its
   arguments in an **inert placeholder** (dtype name, shape, strides, bytes): no numpy or torch
   object is ever constructed, called or mutated by a pickle opcode. A placeholder accepts its
   state once and refuses ``SETITEM``/``APPEND``; ``numpy.ndarray`` itself cannot be called.
   Before parsing, the opcodes are scanned: opcodes that tensor and array pickles never use
   (``INST``, ``OBJ``, ``NEWOBJ_EX``, extensions, persistent ids, out-of-band buffers) are
   refused, and memo indices are bounded (CPython's unpickler would otherwise allocate a memo
   of any size a 6-byte pickle asks for).
2. **Materialise.** Once the whole pickle is parsed, the placeholders are checked (plain
   real/complex dtypes only, byte counts match shapes, tensor views stay inside their
   storage) and arrays are built by copying, never by stride tricks, under a per-record byte
   budget (:data:`DEFAULT_MAX_RECORD_BYTES`) that also bounds nesting, shared-reference
   explosions and broadcast (stride-0) tensors.

Any other global (``os.system``, ``builtins.eval``, …) or an attempt to build or modify an
array through opcodes raises :class:`UnsafePickleError`; bytes that are merely broken raise
:class:`CorruptRecordError`; a record over budget raises :class:`RecordTooLargeError`.
Neither torch nor torch_geometric is imported.

The bytes inside ``torch.storage._load_from_bytes`` are torch's legacy ``torch.save`` stream (a
few small pickles followed by raw storage bytes); they are parsed here with the same rules.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
import struct
from typing import Any

import numpy as np

from matforge.data.errors import CorruptRecordError, RecordTooLargeError, UnsafePickleError

#: Default decoded-size budget of one record (bytes). OC20 S2EF/IS2RE records, neighbour lists
#: included, decode to well under 1 MB; this leaves two orders of magnitude of headroom.
DEFAULT_MAX_RECORD_BYTES = 64 << 20
#: Deepest container nesting a record may have (PyG Data → dict → tensor is 3).
MAX_DEPTH = 32
#: Budget charged per Python object walked, so a shared-reference DAG cannot expand unbounded.
_NODE_BYTES = 32

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

#: torch storage class names → numpy dtypes (torch writes storages little-endian).
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

#: Opcodes no tensor, array or PyG pickle needs; refused before parsing.
_REFUSED_OPCODES = frozenset(
    {"INST", "OBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER"}
)
_MEMO_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_DTYPE_SPEC = re.compile(r"^(?:b1|\?|[iu][1248]|f[248]|c(?:8|16))$")


def _unsafe(message: str) -> UnsafePickleError:
    return UnsafePickleError(f"{message} (refused before anything was built; nothing was executed)")


# -- phase 1: inert placeholders ---------------------------------------------------------------


class _Inert:
    """Base of every object a pickle opcode can reach: refuses mutation by opcodes."""

    kind = "placeholder"

    def __setstate__(self, state: Any) -> None:
        raise _unsafe(f"the pickle sets the state of a {self.kind}")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise _unsafe(f"the pickle assigns an item of a {self.kind} (SETITEM)")

    def append(self, value: Any) -> None:
        raise _unsafe(f"the pickle appends to a {self.kind} (APPEND)")

    def extend(self, values: Any) -> None:
        raise _unsafe(f"the pickle extends a {self.kind} (APPENDS)")


class _DtypeSpec(_Inert):
    """``numpy.dtype(spec, align, copy)`` and its one ``BUILD``: a plain number type by name."""

    kind = "numpy dtype"

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        if not isinstance(spec, str) or not _DTYPE_SPEC.match(spec):
            raise _unsafe(f"the pickled numpy dtype {spec!r} is not a plain number type")
        self.spec = spec
        self.byteorder: str | None = None

    def __setstate__(self, state: Any) -> None:
        if self.byteorder is not None:
            raise _unsafe("the pickle sets the state of a numpy dtype twice")
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
            raise CorruptRecordError(f"numpy dtype {self.spec!r} has an unreadable state")
        if state[1] not in ("<", ">", "|", "=") or any(s is not None for s in state[2:5]):
            raise _unsafe(f"the pickled numpy dtype {self.spec!r} is structured or has subarrays")
        if len(state) == 9 and state[8] not in (None, {}):
            raise _unsafe(f"the pickled numpy dtype {self.spec!r} carries metadata")
        self.byteorder = state[1]

    def dtype(self) -> np.dtype:
        dtype = np.dtype(self.spec)
        return dtype.newbyteorder(self.byteorder) if self.byteorder in ("<", ">") else dtype


class _ArrayPlaceholder(_Inert):
    """A numpy array to be: dtype, shape, order and its bytes (a private copy)."""

    kind = "numpy array"

    def __init__(self) -> None:
        self.state: tuple[_DtypeSpec, tuple[int, ...], str, bytes, tuple[int, ...] | None] | None = None

    def set(self, dtype: Any, shape: Any, order: str, data: Any, axis_order: Any = None) -> None:
        if not isinstance(dtype, _DtypeSpec):
            raise _unsafe("a pickled numpy array has a dtype that is not a plain number type")
        if not isinstance(data, (bytes, bytearray)):
            raise _unsafe(f"a pickled numpy array holds {type(data).__name__} data (an object array?); only raw bytes are allowed")
        if axis_order is not None and sorted(_ints(axis_order, "axis order")) != list(range(len(_ints(shape, "shape")))):
            raise CorruptRecordError("pickled numpy array has an invalid axis order")
        self.state = (dtype, _ints(shape, "shape"), order, bytes(data), None if axis_order is None else _ints(axis_order, "axis order"))

    def __setstate__(self, state: Any) -> None:
        if self.state is not None:
            raise _unsafe("the pickle sets the state of a numpy array twice")
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]  # (version, shape, dtype, is_fortran, rawdata)
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[2], bool)):
            raise CorruptRecordError("pickled numpy array has an unreadable state")
        shape, dtype, fortran, data = state
        self.set(dtype, shape, "F" if fortran else "C", data)

    def materialise(self, budget: _Budget) -> np.ndarray:
        if self.state is None:
            raise CorruptRecordError("pickled numpy array was never given its data")
        spec, shape, order, data, axis_order = self.state
        dtype = spec.dtype()
        count = math.prod(shape)
        budget.charge(count * dtype.itemsize, f"numpy array of shape {list(shape)}")
        if len(data) != count * dtype.itemsize:
            raise CorruptRecordError(
                f"pickled numpy array of shape {list(shape)} and dtype {dtype} holds {len(data)} bytes, "
                f"expected {count * dtype.itemsize}"
            )
        flat = np.frombuffer(data, dtype=dtype)
        if axis_order is not None:
            return flat.reshape(shape).transpose(axis_order).copy()
        return flat.reshape(shape, order="F" if order == "F" else "C").copy(order="K")


class _ScalarPlaceholder(_Inert):
    kind = "numpy scalar"

    def __init__(self, dtype: Any, data: Any) -> None:
        if not isinstance(dtype, _DtypeSpec):
            raise _unsafe("a pickled numpy scalar has a dtype that is not a plain number type")
        if not isinstance(data, bytes):
            raise _unsafe(f"a pickled numpy scalar holds {type(data).__name__}, not raw bytes")
        self.spec, self.data = dtype, data

    def materialise(self, budget: _Budget) -> Any:
        dtype = self.spec.dtype()
        if len(self.data) != dtype.itemsize:
            raise CorruptRecordError(f"pickled numpy scalar of dtype {dtype} holds {len(self.data)} bytes")
        return np.frombuffer(self.data, dtype=dtype)[0]


class _StoragePlaceholder(_Inert):
    """A torch storage: element dtype and raw little-endian bytes."""

    kind = "tensor storage"

    def __init__(self, dtype: np.dtype, data: bytes) -> None:
        self.dtype, self.data = dtype, data

    @property
    def numel(self) -> int:
        return len(self.data) // self.dtype.itemsize


class _TensorPlaceholder(_Inert):
    """A torch tensor: a view (offset, size, stride in elements) of a storage."""

    kind = "tensor"

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any) -> None:
        if not isinstance(storage, _StoragePlaceholder):
            raise _unsafe("a pickled tensor is rebuilt from something other than a tensor storage")
        self.storage = storage
        self.offset = _int(offset, "tensor offset")
        self.size = _ints(size, "tensor size")
        self.stride = _ints(stride, "tensor stride")
        if len(self.size) != len(self.stride):
            raise CorruptRecordError(f"tensor size {list(self.size)} and stride {list(self.stride)} differ in length")

    def materialise(self, budget: _Budget) -> np.ndarray:
        size, stride, offset, storage = self.size, self.stride, self.offset, self.storage
        dtype = storage.dtype
        count = math.prod(size)
        budget.charge(count * dtype.itemsize, f"tensor of size {list(size)}")
        if count == 0:
            return np.zeros(size, dtype=dtype)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise CorruptRecordError(
                f"tensor of size {list(size)} with stride {list(stride)} at offset {offset} overruns "
                f"its storage of {storage.numel} elements"
            )
        flat = np.frombuffer(storage.data, dtype=np.uint8 if dtype.kind == "b" else dtype)
        if dtype.kind == "b":
            flat = flat != 0  # any nonzero byte is True, as in torch
        if stride == _contiguous_strides(size):
            return flat[offset:offset + count].reshape(size).copy()
        # a view: gather element by element through an explicit index (a copy; no as_strided)
        budget.charge(count * 8, f"index of a strided tensor of size {list(size)}")
        index = np.full((), offset, dtype=np.int64)
        for n, s in zip(size, stride):
            index = index[..., None] + np.arange(n, dtype=np.int64) * s
        return flat[index]


def _contiguous_strides(size: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise CorruptRecordError(f"{what} must be a non-negative integer, got {value!r}"[:200])
    return value


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) > MAX_DEPTH:
        raise CorruptRecordError(f"{what} must be a short tuple of integers, got {type(values).__name__}")
    return tuple(_int(v, what) for v in values)


class _NdarrayClass(_Inert):
    """``numpy.ndarray``: only ever the class argument of ``_reconstruct``; never callable."""

    kind = "numpy.ndarray class"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _unsafe("the pickle calls numpy.ndarray directly (e.g. over another array's buffer)")


_NDARRAY = _NdarrayClass()


def _reconstruct(cls: Any, shape: Any = None, dtype_code: Any = None) -> _ArrayPlaceholder:
    if cls is not _NDARRAY:
        raise _unsafe("numpy's _reconstruct is asked for something other than a plain ndarray")
    return _ArrayPlaceholder()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any = "C", axis_order: Any = None) -> _ArrayPlaceholder:
    if order not in ("C", "F", "K"):
        raise CorruptRecordError(f"pickled numpy array has order {order!r}")
    array = _ArrayPlaceholder()
    array.set(dtype, shape, order, buffer, axis_order)
    return array


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # protocol-2 pickles carry bytes as _codecs.encode(latin-1 text, 'latin1')
    if not isinstance(text, str) or encoding != "latin1":
        raise _unsafe("_codecs.encode is only allowed for latin-1 text (protocol-2 bytes)")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    # protocol-2 pickles write b"" as __builtin__.bytes()
    if args:
        raise _unsafe("bytes() is only allowed without arguments (protocol-2 empty bytes)")
    return b""


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    backward_hooks: Any = None, metadata: Any = None) -> _TensorPlaceholder:
    if backward_hooks not in (None, {}) or not isinstance(requires_grad, bool):
        raise _unsafe("a pickled tensor carries backward hooks or an odd requires_grad")
    return _TensorPlaceholder(storage, offset, size, stride)


def _rebuild_tensor_v1(storage: Any, offset: Any, size: Any, stride: Any) -> _TensorPlaceholder:
    return _TensorPlaceholder(storage, offset, size, stride)


class _TensorClass(_Inert):
    kind = "torch.Tensor class"


_TENSOR = _TensorClass()


def _rebuild_from_type_v2(func: Any, cls: Any, args: Any, state: Any) -> _TensorPlaceholder:
    if func not in (_rebuild_tensor, _rebuild_tensor_v1) or cls is not _TENSOR or not isinstance(args, tuple):
        raise _unsafe("a pickled tensor is rebuilt through an unexpected function or type")
    if state not in (None, {}):
        raise _unsafe("a pickled tensor carries Python attributes")
    return func(*args)


def _torch_size(values: Any = ()) -> tuple[int, ...]:
    return _ints(values, "torch.Size")


def _ordered_dict(items: Any = None) -> dict:
    # pickled as OrderedDict() followed by SETITEMS; a plain dict takes those the same way
    if items not in (None, [], ()):
        raise CorruptRecordError("pickled OrderedDict has constructor arguments")
    return {}


def _load_from_bytes(data: Any) -> _StoragePlaceholder:
    return _read_legacy_storage(data)


class PygData(_Inert):
    """A pickled ``torch_geometric.data.Data`` (PyG 1.x or 2.x layout).

    While parsing it only holds the pickled state; :func:`safe_loads` returns it with
    :meth:`fields` materialised.
    """

    kind = "PyG Data"

    def __setstate__(self, state: Any) -> None:
        if "state" in self.__dict__:
            raise _unsafe("the pickle sets the state of a PyG Data twice")
        self.__dict__["state"] = state

    def _pending_fields(self) -> Any:
        """The data's fields: ``_store._mapping`` (PyG 2.x) or the instance dict (PyG 1.x)."""
        state = self.__dict__.get("state")
        if not isinstance(state, dict):
            raise CorruptRecordError("PyG Data pickle carries no field dictionary")
        store = state.get("_store")
        if isinstance(store, PygStorage):
            return store.mapping()
        return {k: v for k, v in state.items() if not (isinstance(k, str) and k.startswith("__") and k.endswith("__"))}

    def fields(self) -> dict[str, Any]:
        """The materialised fields (arrays as numpy arrays)."""
        fields = self.__dict__.get("materialised")
        if fields is None:
            raise CorruptRecordError("PyG Data was not materialised")
        return dict(fields)


class PygStorage(_Inert):
    """A pickled ``torch_geometric.data.storage.*Storage`` (holds ``_mapping``)."""

    kind = "PyG storage"

    def __setstate__(self, state: Any) -> None:
        if "state" in self.__dict__:
            raise _unsafe("the pickle sets the state of a PyG storage twice")
        self.__dict__["state"] = state

    def mapping(self) -> Any:
        state = self.__dict__.get("state")
        mapping = state.get("_mapping") if isinstance(state, dict) else None
        if not isinstance(mapping, dict):
            raise CorruptRecordError("PyG storage pickle carries no '_mapping'")
        return mapping


class _Marker(_Inert):
    """A class the pickle only refers to (PyG's ``DataEdgeAttr``); never carries data."""

    kind = "PyG marker class"


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor_v1,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TENSOR,
    ("torch", "Size"): _torch_size,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): _ordered_dict,
    ("_codecs", "encode"): _codecs_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeSpec,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _ScalarPlaceholder,
    ("numpy._core.multiarray", "scalar"): _ScalarPlaceholder,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("torch_geometric.data.data", "Data"): PygData,
    ("torch_geometric.data.data", "DataEdgeAttr"): _Marker(),
    ("torch_geometric.data.data", "DataTensorAttr"): _Marker(),
    ("torch_geometric.data.storage", "GlobalStorage"): PygStorage,
    ("torch_geometric.data.storage", "BaseStorage"): PygStorage,
    ("torch_geometric.data.storage", "NodeStorage"): PygStorage,
    ("torch_geometric.data.storage", "EdgeStorage"): PygStorage,
}


def _scan_opcodes(stream: io.BytesIO, what: str, refused: frozenset[str] = _REFUSED_OPCODES) -> None:
    """Refuse opcodes tensor/array pickles never use, and memo indices beyond the pickle's size
    (CPython sizes its memo table by the largest index, so ``LONG_BINPUT 2**30`` alone would
    allocate 8 GB). Reads one pickle from ``stream``'s position and rewinds."""
    start = stream.tell()
    limit = len(stream.getbuffer()) - start
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            if opcode.name in refused:
                raise _unsafe(f"{what} uses the pickle opcode {opcode.name}, which tensor and array pickles never need")
            if opcode.name in _MEMO_OPCODES and int(arg) > limit:
                raise _unsafe(f"{what} asks for memo slot {arg} in a pickle of {limit} bytes")
    except (UnsafePickleError, CorruptRecordError):
        raise
    except Exception as exc:
        raise CorruptRecordError(f"{what} is not a readable pickle ({type(exc).__name__}: {exc}); the value is truncated or corrupt") from None
    finally:
        stream.seek(start)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, allowed: dict[tuple[str, str], Any], what: str) -> None:
        super().__init__(file)
        self._allowed = allowed
        self._what = what

    def find_class(self, module: str, name: str) -> Any:
        target = self._allowed.get((module, name))
        if target is None:
            raise UnsafePickleError(
                f"{self._what} names the global {module}.{name}, which is not among the tensor, "
                "array and PyG Data types matforge allows; refusing to load it (nothing was executed)"
            )
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise _unsafe(f"{self._what} has a persistent id")


def _load_one(stream: io.BytesIO, allowed: dict[tuple[str, str], Any], what: str) -> Any:
    _scan_opcodes(stream, what)
    return _RestrictedUnpickler(stream, allowed, what).load()


# -- phase 2: materialise ----------------------------------------------------------------------


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def charge(self, nbytes: int, what: str) -> None:
        self.left -= nbytes
        if self.left < 0:
            raise RecordTooLargeError(
                f"record needs more than {self.limit / 2**20:g} MiB once decoded ({what}); a genuine "
                "record this large is unusual: raise the limit (--max-record-mb) if it is real"
            )


_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def _materialise(value: Any, budget: _Budget, depth: int = 0) -> Any:
    budget.charge(_NODE_BYTES, "nested values")
    if depth > MAX_DEPTH:
        raise CorruptRecordError(f"value is nested deeper than {MAX_DEPTH} levels (or refers to itself)")
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is bytearray:
        budget.charge(len(value), "byte array")
        return bytes(value)
    if kind in (list, tuple, set, frozenset):
        return kind(_materialise(v, budget, depth + 1) for v in value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) not in _PLAIN:
                raise CorruptRecordError(f"a dictionary key is a {type(k).__name__}, expected a string or number")
            out[k] = _materialise(v, budget, depth + 1)
        return out
    if kind in (_ArrayPlaceholder, _ScalarPlaceholder, _TensorPlaceholder):
        return value.materialise(budget)
    if kind is PygData:
        if "materialised" not in value.__dict__:
            value.__dict__["materialised"] = _materialise(value._pending_fields(), budget, depth + 1)
        return value
    raise CorruptRecordError(f"the record holds a {getattr(value, 'kind', kind.__name__)} where data was expected")


def safe_loads(data: bytes, *, where: str = "value", max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Any:
    """Unpickle ``data`` allowing only tensors and arrays (returned as numpy arrays, copies),
    numpy scalars, plain containers and PyG ``Data`` (as :class:`PygData`).

    Args:
        where: names the value in errors (``"data.lmdb key 17"``).
        max_bytes: budget for the decoded record (arrays, nested values); see
            :data:`DEFAULT_MAX_RECORD_BYTES`.

    Raises:
        UnsafePickleError: the pickle names any other global, or tries to build or modify an
            array through opcodes (nothing is called).
        RecordTooLargeError: the decoded record would exceed ``max_bytes``.
        CorruptRecordError: the bytes are not a complete, consistent pickle.
    """
    try:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CorruptRecordError(f"value is a {type(data).__name__}, not bytes")
        parsed = _load_one(io.BytesIO(bytes(data)), _ALLOWED, "the pickle")
        return _materialise(parsed, _Budget(max_bytes))
    except (UnsafePickleError, CorruptRecordError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    except RecursionError:
        raise CorruptRecordError(f"{where}: value is nested too deeply") from None
    except Exception as exc:
        raise CorruptRecordError(
            f"{where}: not a readable pickle ({type(exc).__name__}: {exc}); the value is "
            "truncated or corrupt"
        ) from None


# -- torch's legacy storage stream -------------------------------------------------------------


class _StorageType(_Inert):
    """A torch ``*Storage`` class named in a legacy stream: just its dtype."""

    kind = "torch storage type"

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


_STORAGE_TYPES = {("torch", name): _StorageType(name) for name in _STORAGE_DTYPES}

#: Byte-exact header pickles (magic, protocol version, system info) of legacy streams already
#: checked in this process; every tensor of a file repeats the same ~200 bytes.
_KNOWN_HEADERS: list[bytes] = []


class _StorageRef:
    def __init__(self, storage_type: _StorageType, key: str, numel: int) -> None:
        self.storage_type = storage_type
        self.key = key
        self.numel = numel


class _LegacyStreamUnpickler(_RestrictedUnpickler):
    """The storage pickle of torch's legacy ``torch.save`` stream; storages are persistent ids."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, _STORAGE_TYPES, "legacy tensor stream")
        self.refs: dict[str, _StorageRef] = {}

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', type, key, location, numel[, view_metadata]); views are not written
        # by torch.save(storage), so view_metadata must be None.
        if not (
            isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
            and type(pid[4]) is int and pid[4] >= 0 and (len(pid) == 5 or pid[5] is None)
        ):  # fmt: skip
            raise CorruptRecordError(f"unsupported storage reference {pid!r} in legacy tensor stream"[:300])
        _, storage_type, key, _location, numel = pid[:5]
        if self.refs:
            raise CorruptRecordError("legacy tensor stream refers to more than one storage")
        self.refs[key] = _StorageRef(storage_type, key, numel)
        return self.refs[key]


def _read_legacy_storage(data: Any) -> _StoragePlaceholder:
    """The storage saved by ``torch.save(storage, _use_new_zipfile_serialization=False)``."""
    if not isinstance(data, bytes):
        raise CorruptRecordError("tensor storage is not a byte string")
    if data[:2] == b"PK":
        raise CorruptRecordError("tensor storage in torch's zip format is not supported in legacy pickles")
    stream = io.BytesIO(data)

    def plain(what: str) -> Any:
        return _load_one(stream, {}, what)

    known = next((h for h in _KNOWN_HEADERS if data.startswith(h)), None)
    if known is not None:
        stream.seek(len(known))  # these exact bytes were checked before: skip re-parsing them
    else:
        if plain("legacy tensor stream magic") != _LEGACY_MAGIC:
            raise CorruptRecordError("tensor storage does not start with torch's legacy magic number")
        if plain("legacy tensor stream version") != _LEGACY_PROTOCOL:
            raise CorruptRecordError("tensor storage has an unknown legacy protocol version")
        info = plain("legacy tensor stream header")
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise CorruptRecordError("tensor storage was not written little-endian")
        if len(_KNOWN_HEADERS) < 8:  # one per torch version that wrote the data, in practice
            _KNOWN_HEADERS.append(data[:stream.tell()])
    _scan_opcodes(stream, "legacy tensor stream", _REFUSED_OPCODES - {"BINPERSID"})
    unpickler = _LegacyStreamUnpickler(stream)
    root = unpickler.load()
    keys = plain("legacy tensor stream keys")
    if not isinstance(root, _StorageRef) or keys != [root.key]:
        raise CorruptRecordError("legacy tensor stream does not hold exactly one storage")
    header = stream.read(8)
    if len(header) != 8:
        raise CorruptRecordError("legacy tensor stream is truncated (storage size missing)")
    (numel,) = struct.unpack("<q", header)
    dtype = root.storage_type.dtype
    if numel != root.numel:
        raise CorruptRecordError(f"legacy tensor stream: storage claims {numel} elements, its header {root.numel}")
    raw = stream.read(numel * dtype.itemsize)
    if len(raw) != numel * dtype.itemsize:
        raise CorruptRecordError(
            f"legacy tensor stream is truncated: storage should hold {numel} elements of {dtype}, "
            f"found {len(raw) // dtype.itemsize}"
        )
    return _StoragePlaceholder(dtype, raw)
