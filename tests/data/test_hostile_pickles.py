"""Hostile legacy pickles: memory attacks through pickle opcodes are refused, the process survives.

Every record is assembled opcode by opcode (``pickle_ops``). The ones that crashed or corrupted
the interpreter before (use-after-free, write-alias, object arrays, stride-0 expansion, memo
bombs) are decoded in a child process with an address-space limit, and the test checks the
child's exit code as well as the named error it reports.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from matforge.data.errors import CorruptRecordError, RecordTooLargeError, UnsafePickleError
from matforge.data.importers.legacy_pickle import DEFAULT_MAX_RECORD_BYTES, PygData, safe_loads

from . import pickle_ops as op
from .pyg_pickles import pyg1_pickle, pyg2_pickle

N = 64  # bytes of the arrays the attacks play with
Z3 = op.array("i8", (3,), np.array([1, 8, 29], "<i8").tobytes())


def _with_positions(value: bytes) -> bytes:
    return op.record(op.dict_of(pos=value, atomic_numbers=Z3))


def _use_after_free() -> bytes:
    # a view over array 0's buffer, then array 0's state replaced: the view would dangle
    base = op.array("u1", (N,), b"\0" * N) + op.put(0)
    view = op.call(op.glob("numpy", "ndarray"), op.tup(op.num(N)), op.dtype("u1"), op.get(0)) + op.put(1)
    rebuild = op.get(0) + op.tup(op.num(1), op.tup(op.num(8)), op.dtype("u1"), op.FALSE, op.raw(b"\1" * 8)) + op.BUILD
    return op.record(base + view + rebuild + op.POP + op.dict_of(pos=op.get(1)))


def _state_twice() -> bytes:
    base = op.array("f8", (3,), b"\0" * 24) + op.put(0)
    again = op.tup(op.num(1), op.tup(op.num(1)), op.dtype("f8", "<"), op.FALSE, op.raw(b"\0" * 8)) + op.BUILD
    return op.record(base + again + op.POP + op.dict_of(pos=op.get(0)))


def _write_alias() -> bytes:
    # two live arrays over one buffer, then a SETITEM writing through the second
    base = op.array("f8", (3,), b"\0" * 24) + op.put(0)
    alias = op.call(op.glob("numpy", "ndarray"), op.tup(op.num(3)), op.dtype("f8", "<"), op.get(0)) + op.put(1)
    return op.record(base + alias + op.num(0) + op.num(12345) + op.SETITEM + op.POP + op.dict_of(pos=op.get(0)))


def _setitem_on_array() -> bytes:
    return _with_positions(op.array("f8", (3,), b"\0" * 24) + op.num(0) + op.num(7) + op.SETITEM)


def _object_dtype() -> bytes:
    return _with_positions(op.dtype("O"))


def _object_array() -> bytes:
    # _reconstruct + BUILD whose data is a list of Python objects, then SETITEM into it
    empty = op.call(op.glob(op.NUMPY, "_reconstruct"), op.glob("numpy", "ndarray"), op.tup(op.num(0)), op.raw(b"b"))
    state = op.tup(op.num(1), op.tup(op.num(2)), op.dtype("f8", "<"), op.FALSE, op.EMPTY_LIST + op.num(1) + op.APPEND)
    return _with_positions(empty + state + op.BUILD)


def _object_scalar() -> bytes:
    return _with_positions(op.call(op.glob(op.NUMPY, "scalar"), op.dtype("O"), op.EMPTY_LIST))


def _structured_dtype() -> bytes:
    return _with_positions(op.dtype("f8", "<", names=op.tup(op.text("a"))))


def _stride_zero() -> bytes:
    # 4 bytes of storage viewed as a [16384, 16384] float32 tensor: 1 GiB from a ~200-byte record
    return _with_positions(op.tensor("FloatStorage", b"\0" * 4, 1, 0, (1 << 14, 1 << 14), (0, 0)))


def _stride_overrun() -> bytes:
    return _with_positions(op.tensor("FloatStorage", b"\0" * 12, 3, 0, (3, 3), (1, 1000)))


def _tensor_over_bytes() -> bytes:
    return _with_positions(op.call(op.glob("torch._utils", "_rebuild_tensor_v2"), op.raw(b"\0" * 12), op.num(0),
                                   op.tup(op.num(3)), op.tup(op.num(1)), op.FALSE, op.call(op.glob("collections", "OrderedDict"))))


def _memo_bomb() -> bytes:
    return op.record(op.NONE + op.put(1 << 30))  # CPython would allocate an 8 GB memo table


def _newobj_ex() -> bytes:
    return op.record(op.glob("numpy", "ndarray") + op.tup(op.num(3)) + op.EMPTY_DICT + op.NEWOBJ_EX)


def _frombuffer_short() -> bytes:
    return _with_positions(op.call(op.glob("numpy._core.numeric", "_frombuffer"), op.raw(b"\0" * 7), op.dtype("f8", "<"),
                                   op.tup(op.num(2), op.num(3)), op.text("C")))


def _deep_list(depth: int = 100) -> bytes:
    return _with_positions(op.EMPTY_LIST * depth + op.APPEND * (depth - 1))


def _self_reference() -> bytes:
    return _with_positions(op.EMPTY_LIST + op.put(0) + op.get(0) + op.APPEND)


def _shared_reference_explosion() -> bytes:
    # level k is [level k-1, level k-1]: 30 levels of a few bytes each name 2**30 leaves
    levels = op.num(0) + op.put(0) + op.POP
    for k in range(1, 31):
        levels += op.EMPTY_LIST + op.get(k - 1) + op.APPEND + op.get(k - 1) + op.APPEND + op.put(k) + op.POP
    return _with_positions(levels + op.get(30))


#: name → (record, error class, message pattern)
HOSTILE = {
    "use-after-free": (_use_after_free, UnsafePickleError, r"calls numpy.ndarray directly"),
    "state-set-twice": (_state_twice, UnsafePickleError, r"state of a numpy array twice"),
    "write-alias": (_write_alias, UnsafePickleError, r"calls numpy.ndarray directly"),
    "setitem-on-array": (_setitem_on_array, UnsafePickleError, r"assigns an item of a numpy array"),
    "object-dtype": (_object_dtype, UnsafePickleError, r"dtype 'O' is not a plain number type"),
    "object-array": (_object_array, UnsafePickleError, r"holds list data"),
    "object-scalar": (_object_scalar, UnsafePickleError, r"dtype 'O' is not a plain number type"),
    "structured-dtype": (_structured_dtype, UnsafePickleError, r"structured"),
    "stride-zero-expansion": (_stride_zero, RecordTooLargeError, r"more than 64 MiB once decoded \(tensor of size \[16384, 16384\]\)"),
    "stride-overrun": (_stride_overrun, CorruptRecordError, r"overruns its storage of 3 elements"),
    "tensor-over-bytes": (_tensor_over_bytes, UnsafePickleError, r"other than a tensor storage"),
    "memo-bomb": (_memo_bomb, UnsafePickleError, r"memo slot 1073741824"),
    "newobj-ex": (_newobj_ex, UnsafePickleError, r"opcode NEWOBJ_EX"),
    "frombuffer-short": (_frombuffer_short, CorruptRecordError, r"holds 7 bytes, expected 48"),
    "deep-list": (_deep_list, CorruptRecordError, r"nested deeper than 32 levels"),
    "self-reference": (_self_reference, CorruptRecordError, r"nested deeper than 32 levels"),
    "shared-reference-explosion": (_shared_reference_explosion, RecordTooLargeError, r"nested values"),
}

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails, not swaps
    from matforge.data.importers.legacy_pickle import safe_loads
    outcome = {}
    for file in sorted(Path(sys.argv[1]).iterdir()):
        try:
            safe_loads(file.read_bytes(), where=file.name)
            outcome[file.name] = ["accepted", ""]
        except Exception as exc:
            outcome[file.name] = [type(exc).__name__, str(exc)]
    print(json.dumps(outcome))
    """
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Decode every hostile record in one child process; its exit code must be 0."""
    folder = tmp_path_factory.mktemp("hostile")
    for name, (build, _, _) in HOSTILE.items():
        (folder / name).write_bytes(build())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, env=env, timeout=120)
    assert child.returncode == 0, f"the decoding process died (exit {child.returncode}): {child.stderr[-2000:]}"
    return json.loads(child.stdout)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_record_is_refused_with_a_named_error_and_the_process_survives(outcomes, name):
    _, error, pattern = HOSTILE[name]
    kind, message = outcomes[name]
    assert kind == error.__name__, f"{name}: {kind}: {message}"
    assert message.startswith(f"{name}: ")
    assert __import__("re").search(pattern, message), message


def test_hostile_records_are_small():
    # the attacks are cheap for an attacker: a few hundred bytes each
    assert max(len(build()) for build, _, _ in HOSTILE.values()) < 1200


def test_the_per_record_budget_is_configurable():
    blob = pickle.dumps({"pos": torch.zeros(1000, 3)})  # 12 kB of float32
    assert safe_loads(blob)["pos"].shape == (1000, 3)
    with pytest.raises(RecordTooLargeError, match=r"key 5: record needs more than 0.00976562 MiB.*--max-record-mb"):
        safe_loads(blob, where="key 5", max_bytes=10 * 1024)
    assert DEFAULT_MAX_RECORD_BYTES >= 64 << 20


# -- genuine records decode exactly as torch and numpy decode them -------------------------------


def _tensors() -> list[torch.Tensor]:
    base = torch.arange(60, dtype=torch.float64).reshape(5, 12) / 7
    tensors = [base.to(d) for d in (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)]
    tensors += [base > 3, base[:, 3], base[1:4, ::3], base.T, base[2], torch.tensor(2.5), torch.zeros(0, 3), base.unsqueeze(1)]
    tensors += [torch.ones(1, 3).expand(4, 3)]  # a genuine broadcast view (stride 0), small
    return tensors


@pytest.mark.parametrize("index", range(17))
def test_tensors_decode_bit_identically_to_torch(index):
    tensor = _tensors()[index]
    got = safe_loads(pickle.dumps(tensor, protocol=4))
    expected = tensor.contiguous().numpy()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert got.flags.writeable and got.flags.owndata  # a private copy


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_scalars_decode_bit_identically_at_every_protocol(protocol):
    values = [np.arange(12.0).reshape(3, 4), np.arange(12, dtype="<i4").reshape(3, 4).T, np.asfortranarray(np.ones((2, 3), "f4")),
              np.array([True, False]), np.arange(6, dtype=">f8"), np.float32(1.25), np.int64(-7), np.zeros((0, 3))]
    back = safe_loads(pickle.dumps(values, protocol=protocol))
    for got, expected in zip(back, values):
        got, expected = np.asarray(got), np.asarray(expected)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("layout", [pyg1_pickle, pyg2_pickle], ids=["pyg1", "pyg2"])
def test_pyg_records_decode_bit_identically(layout):
    fields = {"pos": torch.randn(7, 3, generator=torch.Generator().manual_seed(0)), "atomic_numbers": torch.tensor([1.0, 8.0] * 3 + [29.0]),
              "cell": torch.eye(3)[None] * 5, "y": -1.25, "natoms": 7, "tags": torch.tensor([0, 1, 2, 0, 1, 2, 0]), "sid": 11}
    data = safe_loads(layout(fields))
    assert isinstance(data, PygData)
    got = data.fields()
    for key, value in fields.items():
        if isinstance(value, torch.Tensor):
            assert got[key].tobytes() == value.numpy().tobytes() and got[key].dtype == value.numpy().dtype
        else:
            assert got[key] == value


def test_real_torch_geometric_data_decodes_bit_identically():
    pyg = pytest.importorskip("torch_geometric.data")
    pos = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    got = safe_loads(pickle.dumps(pyg.Data(pos=pos, y=torch.tensor([0.5]), edge_index=torch.zeros(2, 4, dtype=torch.long)))).fields()
    assert got["pos"].tobytes() == pos.numpy().tobytes() and got["edge_index"].dtype == np.int64
