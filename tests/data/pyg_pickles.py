"""Pickles in the layouts OC20 LMDBs hold, built in the tests.

``pyg1_pickle``/``pyg2_pickle`` write real pickles that name ``torch_geometric.data.data.Data``
(PyG 1.x: fields in the instance dict; PyG 2.x: fields in ``_store._mapping``) through
stand-in classes registered under PyG's module names for the duration of the dump, so they
work whether or not torch_geometric is installed.
"""

from __future__ import annotations

import pickle
import sys
import types
from contextlib import contextmanager
from typing import Any

import lmdb


class Data:
    pass


class GlobalStorage:
    pass


class DataEdgeAttr:
    pass


class DataTensorAttr:
    pass


@contextmanager
def _pyg_modules():
    names = {
        "torch_geometric": {},
        "torch_geometric.data": {},
        "torch_geometric.data.data": {"Data": Data, "DataEdgeAttr": DataEdgeAttr, "DataTensorAttr": DataTensorAttr},
        "torch_geometric.data.storage": {"GlobalStorage": GlobalStorage},
    }
    saved = {name: sys.modules.get(name) for name in names}
    saved_attrs = {cls: (cls.__module__, cls.__qualname__) for cls in (Data, GlobalStorage, DataEdgeAttr, DataTensorAttr)}
    try:
        for name, attrs in names.items():
            module = types.ModuleType(name)
            for attr, cls in attrs.items():
                setattr(module, attr, cls)
                cls.__module__, cls.__qualname__ = name, attr
            sys.modules[name] = module
        yield
    finally:
        for cls, (module, qualname) in saved_attrs.items():
            cls.__module__, cls.__qualname__ = module, qualname
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def pyg1_pickle(fields: dict[str, Any]) -> bytes:
    with _pyg_modules():
        data = Data()
        data.__dict__.update(fields)
        data.__dict__["__num_nodes__"] = None
        return pickle.dumps(data, protocol=4)


def pyg2_pickle(fields: dict[str, Any]) -> bytes:
    with _pyg_modules():
        data = Data()
        store = GlobalStorage()
        store.__dict__.update(_mapping=dict(fields), _parent=data)
        data.__dict__.update(_edge_attr_cls=DataEdgeAttr, _tensor_attr_cls=DataTensorAttr, _store=store)
        return pickle.dumps(data, protocol=4)


def write_lmdb(path, values: list[bytes], *, length_key: bool = False) -> None:
    """An OC20-style LMDB file: ASCII integer keys, optional pickled ``length``."""
    env = lmdb.open(str(path), subdir=False, map_size=1 << 26, lock=False)
    with env.begin(write=True) as txn:
        for k, value in enumerate(values):
            txn.put(str(k).encode(), value)
        if length_key:
            txn.put(b"length", pickle.dumps(len(values)))
    env.close()
