"""A restricted unpickler for NVIDIA's StyleGAN2 network pickles: numbers and names, never code.

stylegan2-ada-pytorch (SG2A) pickles its networks with ``torch_utils.persistence``: every module
reduces to ``_reconstruct_persistent_obj(meta)`` whose ``meta["module_src"]`` is Python source
that SG2A ``exec``s on load. TensorFlow-era pickles hold ``dnnlib.tflib.network.Network``
objects whose state carries source too. Here each global a pickle names is looked up in a short
allow-list of builders that make only plain data: a persistent module becomes a ``Module``
record (class name + state; the source is never looked at), a torch tensor a numpy array
(decoded from the legacy ``torch.save`` stream without torch), a TF network a ``TFNetwork``
dict. Any other global (``os.system``, ``builtins.eval``, a class we do not know, ...) stops
the load with one line naming it, before anything it names is called.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct

import numpy as np

from msgan.errors import MsganError


class PickleRefused(MsganError):
    """The pickle names something outside the allow-list; nothing it names was called."""


class PickleDamaged(MsganError):
    """The pickle stream is truncated or malformed."""


class Module:
    """A persistent SG2A module as data: its class name and its ``__dict__`` (state)."""

    def __init__(self, class_name: str, state: dict):
        self.class_name = class_name
        self.state = state

    def __repr__(self):
        return f"Module({self.class_name})"


class EasyDict(dict):
    """dnnlib.EasyDict, as a plain dict."""


class TFNetwork(dict):
    """A dnnlib.tflib Network's pickled state (name, static_kwargs, components, variables)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise PickleDamaged("a TensorFlow network in the pickle has a state that is not a "
                                "dict — the file is not a StyleGAN2 network pickle")
        self.update(state)


# ---------------------------------------------------------------------------------------------
# torch storages and tensors, decoded with numpy

_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001


class _StorageType:
    """A torch ``XStorage`` class named in a legacy stream: only its element type matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    @property
    def itemsize(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def decode(self, raw: bytes) -> np.ndarray:
        if self.dtype == "bfloat16":     # the upper half of a float32
            u = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            return u.view(np.float32)
        return np.frombuffer(raw, self.dtype).astype(np.dtype(self.dtype).newbyteorder("="))


class _Storage:
    def __init__(self, kind: _StorageType, numel: int):
        self.kind, self.numel = kind, numel
        self.data: np.ndarray | None = None


class _LegacyUnpickler(pickle.Unpickler):
    """The object pickle inside a legacy ``torch.save`` stream: a storage, named by id."""

    def __init__(self, f):
        super().__init__(f)
        self.storages: dict = {}

    def find_class(self, module, name):
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise _refuse(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int) and pid[4] >= 0):
            raise PickleDamaged(f"a tensor storage in the pickle has an unknown id {str(pid)[:80]}"
                                " — the file is not a network pickle msgan can read")
        if len(pid) == 6 and pid[5] is not None:
            raise PickleDamaged("a tensor storage in the pickle is a view of another storage "
                                "(torch < 1.0 format) — re-save the network with a current "
                                "stylegan2-ada-pytorch")
        key = pid[2]
        if key not in self.storages:
            self.storages[key] = _Storage(pid[1], pid[4])
        return self.storages[key]


def load_storage(b: bytes) -> np.ndarray:
    """A storage from the bytes of ``torch.save(storage, _use_new_zipfile_serialization=False)``
    (what ``torch.storage._load_from_bytes`` receives): as a flat numpy array.

    The stream (torch/serialization.py, ``_legacy_save``): pickles of the magic number, the
    protocol version (1001) and a sys_info dict; the pickle of the object whose storages are
    persistent ids ``('storage', XStorage, key, location, numel, view)``; the pickle of the
    sorted key list; then per key an int64 element count and the raw little-endian bytes.
    """
    if not isinstance(b, (bytes, bytearray)):
        raise PickleDamaged("a tensor storage in the pickle is not a byte string — the file is "
                            "not a network pickle msgan can read")
    f = io.BytesIO(b)
    head = [_plain_load(f) for _ in range(3)]
    if head[0] != _LEGACY_MAGIC or head[1] != _LEGACY_PROTOCOL or not isinstance(head[2], dict):
        raise PickleDamaged("a tensor storage in the pickle is not in torch's legacy format — "
                            "the file is damaged or not a stylegan2-ada-pytorch pickle")
    if not head[2].get("little_endian", True):
        raise PickleDamaged("the pickle's tensors were written on a big-endian machine — "
                            "re-save it on a little-endian one")
    up = _LegacyUnpickler(f)
    obj = up.load()
    keys = _plain_load(f)
    if not isinstance(obj, _Storage) or not isinstance(keys, list):
        raise PickleDamaged("a tensor storage in the pickle holds something other than one "
                            "storage — the file is not a network pickle msgan can read")
    for key in keys:
        st = up.storages.get(key)
        count = f.read(8)
        if st is None or len(count) != 8:
            raise PickleDamaged("a tensor storage in the pickle is truncated — the file is damaged")
        n = struct.unpack("<q", count)[0]
        nbytes = n * st.kind.itemsize
        raw = f.read(nbytes) if 0 <= n == st.numel else b""
        if len(raw) != nbytes or n != st.numel:
            raise PickleDamaged("a tensor storage in the pickle is truncated or has the wrong "
                                "size — the file is damaged")
        st.data = st.kind.decode(raw)
    if obj.data is None:
        raise PickleDamaged("a tensor storage in the pickle has no data — the file is damaged")
    return obj.data


def _plain_load(f):
    """A pickle that may hold only plain values (ints, strings, lists, dicts)."""
    return _NoGlobals(f).load()


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise _refuse(module, name)

    def persistent_load(self, pid):
        raise PickleDamaged("the pickle uses persistent ids where none belong — the file is not a "
                            "network pickle msgan can read")


def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """torch._utils._rebuild_tensor_v2 as numpy: a strided view of the storage, copied."""
    if not (isinstance(storage, np.ndarray) and isinstance(offset, int)
            and isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))
            and len(size) == len(stride)
            and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
        raise PickleDamaged("a tensor in the pickle has a malformed shape — the file is damaged")
    size, stride = tuple(size), tuple(stride)
    n = int(np.prod(size)) if size else 1
    last = offset + sum((s - 1) * st for s, st in zip(size, stride)) if n else offset - 1
    if offset < 0 or last >= storage.size:
        raise PickleDamaged("a tensor in the pickle reaches past its storage — the file is damaged")
    if n == 0:
        return np.zeros(size, storage.dtype)
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride))
    return np.array(view, order="C")


def rebuild_tensor_v1(storage, offset, size, stride):
    return rebuild_tensor(storage, offset, size, stride)


def rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    """torch._utils._rebuild_parameter(_with_state): the parameter is its data."""
    if not isinstance(data, np.ndarray):
        raise PickleDamaged("a parameter in the pickle holds no tensor — the file is damaged")
    return data


def reconstruct_persistent(meta):
    """torch_utils.persistence._reconstruct_persistent_obj: the module as data; its
    ``module_src`` is never looked at, let alone run."""
    if not (isinstance(meta, dict) and meta.get("type") == "class"
            and isinstance(meta.get("class_name"), str) and isinstance(meta.get("state"), dict)):
        raise PickleDamaged("a persistent object in the pickle is not a module (type "
                            f"{meta.get('type') if isinstance(meta, dict) else '?'!r}) — msgan "
                            "reads only network modules")
    return Module(meta["class_name"], dict(meta["state"]))


# ---------------------------------------------------------------------------------------------
# numpy (TensorFlow-era pickles; numpy scalars in module attributes)

class _NDArrayType:
    """numpy.ndarray as named by a pickle: only ``_reconstruct`` may use it."""


def np_reconstruct(subtype, shape, dtype):
    """numpy.core.multiarray._reconstruct: an empty ndarray that BUILD then fills."""
    if subtype is not _NDArrayType:
        raise PickleRefused("the pickle rebuilds an array of a type other than numpy.ndarray — "
                            "msgan reads only plain arrays")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def np_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str):
        raise PickleRefused("the pickle builds a numpy dtype from a non-string — msgan reads "
                            "only plain numeric arrays")
    return np.dtype(spec, align, copy)


def np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise PickleRefused("the pickle holds a numpy scalar of an object type — msgan reads "
                            "only numbers")
    if len(data) != dtype.itemsize:
        raise PickleDamaged("a numpy scalar in the pickle has the wrong size — the file is damaged")
    return np.frombuffer(data, dtype)[0]


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): reconstruct_persistent,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor_v1,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): load_storage,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("numpy.core.multiarray", "_reconstruct"): np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np_reconstruct,
    ("numpy.core.multiarray", "scalar"): np_scalar,
    ("numpy._core.multiarray", "scalar"): np_scalar,
    ("numpy", "ndarray"): _NDArrayType,
    ("numpy", "dtype"): np_dtype,
}


def _refuse(module, name) -> PickleRefused:
    return PickleRefused(f"the pickle refers to {str(module)[:80]}.{str(name)[:80]}, which msgan "
                         "does not load (loading it could run code) — msgan reads only "
                         "StyleGAN2 network pickles: tensors, arrays and plain containers")


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _refuse(module, name)
        return found

    def persistent_load(self, pid):
        raise PickleDamaged("the pickle uses persistent ids (a torch.save file, not a network "
                            "pickle) — pass a network-snapshot-*.pkl")


def load(path: str):
    """The object in the pickle at ``path``, built from the allow-list only."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f).load()
    except MsganError as e:      # refused or damaged: say which file
        raise type(e)(f"{path}: {e}") from None
    except OSError as e:
        raise MsganError(f"cannot read {path} ({e.strerror or e}) — pass a readable network "
                         "pickle") from None
    except RecursionError:
        raise PickleDamaged(f"{path} nests objects too deeply — the file is damaged") from None
    except Exception as e:   # truncated or garbled stream: EOFError, UnpicklingError, ...
        what = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise PickleDamaged(f"{path} is not a complete pickle ({what}) — the file is truncated "
                            "or damaged; download or copy it again") from None
