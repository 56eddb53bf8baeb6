"""The restricted unpickler: tensors and arrays come back as numpy; anything else is refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from matforge.data.errors import CorruptRecordError, UnsafePickleError
from matforge.data.importers.legacy_pickle import PygData, safe_loads

from .pyg_pickles import pyg1_pickle, pyg2_pickle


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.uint8, torch.int8, torch.bool])
def test_tensors_come_back_as_equal_numpy_arrays(dtype):
    tensor = (torch.arange(12).reshape(3, 4) % 3).to(dtype)
    np.testing.assert_array_equal(safe_loads(pickle.dumps(tensor)), tensor.numpy())


def test_views_keep_their_offset_and_strides():
    base = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    for view in (base[:, 2], base[1:4, ::2], base.T, base[3]):
        np.testing.assert_array_equal(safe_loads(pickle.dumps(view)), view.numpy())


def test_numpy_arrays_scalars_and_containers():
    value = {"a": np.arange(6.0).reshape(2, 3), "b": np.float64(-1.5), "c": [1, "x", (2, 3)], "d": np.int32(7)}
    back = safe_loads(pickle.dumps(value))
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["b"] == -1.5 and back["c"] == [1, "x", (2, 3)] and back["d"] == 7


def test_pyg_layouts_give_their_fields():
    fields = {"pos": torch.ones(2, 3), "y": 1.5, "sid": 4}
    for blob in (pyg1_pickle(fields), pyg2_pickle(fields)):
        data = safe_loads(blob)
        assert isinstance(data, PygData)
        got = data.fields()
        assert got["y"] == 1.5 and got["sid"] == 4
        np.testing.assert_array_equal(got["pos"], np.ones((2, 3), dtype=np.float32))


def test_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "executed"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match=r"global os.system.*nothing was executed"):
        safe_loads(payload, where="data.lmdb key 0")
    assert not marker.exists()


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


def test_builtins_are_refused_inside_otherwise_valid_data(tmp_path):
    marker = tmp_path / "created-by-pickle"
    payload = pickle.dumps({"pos": torch.zeros(1, 3), "evil": _Evil(marker)})
    with pytest.raises(UnsafePickleError, match=r"builtins.exec"):
        safe_loads(payload)
    assert not marker.exists()


def test_a_global_inside_the_tensor_storage_stream_is_refused(tmp_path):
    marker = tmp_path / "executed"
    inner = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
    inner += f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    outer = b"\x80\x04ctorch.storage\n_load_from_bytes\nC" + bytes([len(inner)]) + inner + b"\x85R."
    assert len(inner) < 256
    with pytest.raises(UnsafePickleError, match=r"os.system"):
        safe_loads(outer)
    assert not marker.exists()


def test_object_arrays_are_refused():
    with pytest.raises(UnsafePickleError, match=r"not a plain number type"):
        safe_loads(pickle.dumps(np.array([1, "a"], dtype=object)))


@pytest.mark.parametrize("cut", [1, 10, 200])
def test_truncated_pickles_are_corrupt_not_crashes(cut):
    blob = pickle.dumps({"pos": torch.randn(5, 3)})
    with pytest.raises(CorruptRecordError, match=r"where-it-was"):
        safe_loads(blob[:-cut], where="where-it-was")
