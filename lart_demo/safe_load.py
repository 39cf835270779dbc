"""The one loader for every file that may hold a pickle: weights, body models, labels, statistics.

Pickles can name any importable function and call it, so each file kind gets an exact allow-list of the
globals it may name; anything else is refused before it is looked up, and the user reads one line naming
the file. Classes a file needs but we refuse to import (chumpy arrays, scipy sparse matrices, Lightning and
yacs config objects) load as inert stand-ins that only record what the file stored.

numpy is allowed only as `ndarray`, `dtype`, `_reconstruct` and `scalar` (what an array pickle needs).
Object arrays in .npy files are refused unless the file kind needs them. Torch checkpoints load with
`torch.load(weights_only=True)` plus the kind's stand-ins.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from lart_demo.errors import InputError, LartDemoError, WeightsError

_REDOWNLOAD = "Delete it and run `python -m lart_demo weights download`."


# --- stand-ins ----------------------------------------------------------------------------------------


class PickledObject:
    """Stand-in for a class we refuse to import: it only records what the pickle says about it."""

    source_class = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def state_dict(self) -> dict[str, Any]:
        """The recorded state as one dict (pickles may store `(dict, slots)`)."""
        state = self.state
        if isinstance(state, tuple):
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        return state if isinstance(state, dict) else {}


class ChumpyArray(PickledObject):
    """chumpy.Ch and friends: a plain `Ch` stores its value under 'x'."""


class SparseMatrix(PickledObject):
    """scipy.sparse csc/csr/coo matrices; `dense_from_sparse` rebuilds them with numpy."""

    sparse_format = ""


def _stand_in(base: type[PickledObject], qualified_name: str, **attrs: Any) -> type[PickledObject]:
    return type(base.__name__, (base,), {"source_class": qualified_name, **attrs})


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor limited to our stand-ins (protocol 0/1 pickles of new-style objects)."""
    if isinstance(cls, type) and issubclass(cls, PickledObject):
        return cls()
    raise pickle.UnpicklingError(f"refusing to rebuild {cls!r}")


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """_codecs.encode as Python 3 protocol-2 pickles use it to store bytes (always latin1)."""
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"unexpected byte encoding {encoding!r}")
    return text.encode("latin1")


def dense_from_sparse(obj: SparseMatrix) -> np.ndarray:
    """A scipy sparse stand-in as a dense float64 array (no scipy needed)."""
    state = obj.state_dict()
    shape = state.get("_shape", state.get("shape"))
    if shape is None:
        raise WeightsError(f"A sparse matrix ({obj.source_class}) in the file has no shape.")
    rows, cols = (int(v) for v in shape)
    data = np.asarray(state["data"], dtype=np.float64)
    dense = np.zeros((rows, cols), dtype=np.float64)
    if obj.sparse_format == "coo":
        np.add.at(dense, (np.asarray(state["row"]), np.asarray(state["col"])), data)
        return dense
    indices = np.asarray(state["indices"], dtype=np.int64)
    indptr = np.asarray(state["indptr"], dtype=np.int64)
    # compressed axis: columns for csc, rows for csr; repeat each outer index over its run of entries
    outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    if obj.sparse_format == "csc":
        np.add.at(dense, (indices, outer), data)
    else:
        np.add.at(dense, (outer, indices), data)
    return dense


# --- allow-lists ----------------------------------------------------------------------------------------

# Taken from numpy's own reducers so the names hold for numpy 1.x (numpy.core) and 2.x (numpy._core).
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
NUMPY_ARRAY_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("_codecs", "encode"): _latin1_bytes,  # array bytes in protocol-2 pickles; latin1 only
}
_PLAIN_CONTAINERS: Mapping[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "frozenset"): frozenset,
    ("collections", "OrderedDict"): OrderedDict,
}
_SPARSE_CLASSES = ("csc_matrix", "csr_matrix", "coo_matrix")


def _smpl_stand_in(module: str, name: str) -> Any:
    """SMPL pickles store chumpy arrays and a scipy sparse J_regressor: both load as inert records."""
    qualified = f"{module}.{name}"
    if module == "chumpy" or module.startswith("chumpy."):
        return _stand_in(ChumpyArray, qualified)
    if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_CLASSES:
        return _stand_in(SparseMatrix, qualified, sparse_format=name[:3])
    return None


@dataclass(frozen=True)
class PickleKind:
    """What one kind of pickle-bearing file may contain."""

    description: str  # as the user reads it: "the mean_std.npy pose statistics"
    allowed: Mapping[tuple[str, str], Any]  # exact (module, name) -> the object the pickle gets
    stand_in: Callable[[str, str], Any] | None = None  # classes that load as inert records
    object_arrays: bool = False  # .npy files of this kind may be object arrays (a pickle inside)
    encoding: str = "ASCII"  # "latin1" for Python 2 pickles holding numpy arrays
    advice: str = _REDOWNLOAD  # what the user can do about a refused or damaged file
    error: type[LartDemoError] = WeightsError


MEAN_STD = PickleKind(
    "the mean_std.npy pose statistics (a (mean, std) pair of arrays)",
    NUMPY_ARRAY_GLOBALS,
    object_arrays=True,
    encoding="latin1",
)
SMPL = PickleKind(
    "an SMPL body model",
    {
        **NUMPY_ARRAY_GLOBALS,
        **_PLAIN_CONTAINERS,
        ("copy_reg", "_reconstructor"): _reconstructor,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
    },
    stand_in=_smpl_stand_in,
    encoding="latin1",
)
JOINT_REGRESSOR = PickleKind(
    "the SMPL_to_J19.pkl joint regressor", SMPL.allowed, stand_in=_smpl_stand_in, encoding="latin1"
)
AVA_LABELS = PickleKind(
    "an AVA label file (plain dicts, sets, ints and strings)",
    {
        **_PLAIN_CONTAINERS,
        ("builtins", "dict"): dict,
        ("builtins", "list"): list,
        ("builtins", "int"): int,
        ("builtins", "str"): str,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "scalar"): _SCALAR,
        ("numpy._core.multiarray", "scalar"): _SCALAR,
    },
    encoding="latin1",
)
# tracks.pkl (ours or PHALP's demo output): joblib's array records stand in for numpy arrays
PHALP_RESULTS = PickleKind(
    "a PHALP results file (tracks.pkl: dicts, lists, strings and numpy arrays)",
    {
        **NUMPY_ARRAY_GLOBALS,
        **_PLAIN_CONTAINERS,
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): None,  # resolved in load_joblib (joblib loads lazily)
    },
    advice="Only results files written by this app or by PHALP can be read.",
    error=InputError,
)
# The manifest's `check.loader` names one of these.
PICKLE_KINDS: Mapping[str, PickleKind] = {
    "mean_std": MEAN_STD,
    "smpl": SMPL,
    "joint_regressor": JOINT_REGRESSOR,
    "ava_labels": AVA_LABELS,
}


class _Refused(pickle.UnpicklingError):
    """A global outside the kind's allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh: BinaryIO, kind: PickleKind) -> None:
        super().__init__(fh, encoding=kind.encoding)
        self._kind = kind

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._kind.allowed:
            return self._kind.allowed[(module, name)]
        if self._kind.stand_in is not None:
            stand_in = self._kind.stand_in(module, name)
            if stand_in is not None:
                return stand_in
        raise _Refused(f"it refers to {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("it refers to an external object")


def _refusal(
    path: Path, description: str, why: str, advice: str = _REDOWNLOAD, error: type[LartDemoError] = WeightsError
) -> LartDemoError:
    return error(f"Refused to load {path.name}: {why}, which {description} never holds. {advice}")


def _unpickle(fh: BinaryIO, path: Path, kind: PickleKind) -> Any:
    try:
        return _RestrictedUnpickler(fh, kind).load()
    except _Refused as exc:
        raise _refusal(path, kind.description, str(exc), kind.advice, kind.error) from None
    # a damaged stream can fail in any of these; none of them means code ran
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise kind.error(f"Could not read {path.name} ({type(exc).__name__}: {exc}). {kind.advice}") from None


def _existing(path: str | Path, what: str, error: type[LartDemoError] = WeightsError) -> Path:
    path = Path(path)
    if not path.is_file():
        hint = " Run `python -m lart_demo weights status`." if error is WeightsError else ""
        raise error(f"{what} not found: {path}.{hint}")
    return path


def load_pickle(path: str | Path, kind: PickleKind) -> Any:
    """A pickle file, allowing only the globals of `kind`."""
    path = _existing(path, kind.description[0].upper() + kind.description[1:], kind.error)
    try:
        with path.open("rb") as fh:
            return _unpickle(fh, path, kind)
    except OSError as exc:
        raise kind.error(f"Could not read {path.name}: {exc}.") from exc


def load_npy(path: str | Path, kind: PickleKind) -> Any:
    """A .npy file: a plain array, or (only where `kind` needs them) an object array unpickled with its allow-list."""
    path = _existing(path, kind.description[0].upper() + kind.description[1:], kind.error)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in readers:
                raise ValueError(f"unsupported .npy format version {version}")
            _shape, _fortran, dtype = readers[version](fh)
            if dtype.hasobject:
                if not kind.object_arrays:
                    raise _refusal(path, kind.description, "it is an object array (a pickle)", kind.advice, kind.error)
                return _unpickle(io.BytesIO(fh.read()), path, kind)
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise kind.error(f"Could not read {path.name} ({exc}). {kind.advice}") from None


def load_joblib(path: str | Path, kind: PickleKind) -> Any:
    """A joblib dump (compressed or not), allowing only the globals of `kind`; object arrays are refused
    (joblib reads those with an unrestricted pickle)."""
    # joblib is imported here: only tracks.pkl readers need it. Its unpickler and file opener are internals,
    # hence the joblib>=1.5,<2 range in requirements.txt.
    from joblib import numpy_pickle
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    allowed = {**kind.allowed, ("joblib.numpy_pickle", "NumpyArrayWrapper"): numpy_pickle.NumpyArrayWrapper}

    class Restricted(numpy_pickle.NumpyUnpickler):
        dispatch = dict(numpy_pickle.NumpyUnpickler.dispatch)

        def find_class(self, module: str, name: str) -> Any:
            if (module, name) in allowed:
                return allowed[(module, name)]
            raise _Refused(f"it refers to {module}.{name}")

        def load_build(self) -> None:
            target, state = self.stack[-2], self.stack[-1]
            if isinstance(target, numpy_pickle.NumpyArrayWrapper):
                dtype = state.get("dtype") if isinstance(state, dict) else None
                if not isinstance(dtype, np.dtype) or dtype.hasobject:
                    raise _Refused("it holds an object array (a pickle inside)")
            numpy_pickle.NumpyUnpickler.load_build(self)

        dispatch[pickle.BUILD[0]] = load_build

    path = _existing(path, kind.description[0].upper() + kind.description[1:], kind.error)
    try:
        with path.open("rb") as fh, _validate_fileobject_and_memmap(fh, str(path)) as (stream, _mmap):
            if isinstance(stream, str):  # joblib < 0.10 kept arrays in companion files
                raise _Refused("it is in joblib's pre-0.10 format")
            return Restricted(str(path), stream, True).load()
    except _Refused as exc:
        raise _refusal(path, kind.description, str(exc), kind.advice, kind.error) from None
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise kind.error(f"Could not read {path.name} ({type(exc).__name__}: {exc}). {kind.advice}") from None


# --- torch checkpoints ----------------------------------------------------------------------------------


class InertPickledObject:
    """Stand-in for a non-tensor object pickled in a checkpoint (a config, a callback or loop state).

    It records what the file stored and runs nothing. The weights-only unpickler either calls it (REDUCE:
    `__init__` records the arguments) or creates it without `__init__` (NEWOBJ) and may then fill it (BUILD).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class PickledMapping:
    """Stand-in for a pickled dict subclass (yacs `CfgNode`, Lightning `AttributeDict`): loads as an OrderedDict.

    torch's weights-only unpickler fills (SETITEMS) plain dict types only, so the stand-in creates an
    OrderedDict: the entries land in it and the object's own attributes (BUILD) in its `__dict__`.
    Nothing of the original class is imported or executed.
    """

    def __new__(cls, *args: Any) -> OrderedDict:  # type: ignore[misc]
        return OrderedDict()


@dataclass(frozen=True)
class TorchKind:
    """What a torch checkpoint may pickle besides tensors: names under `stand_in_prefixes` load as stand-ins
    (`PickledMapping` when the name ends with one of `mappings`, else `InertPickledObject`)."""

    description: str
    stand_in_prefixes: tuple[str, ...] = ()
    mappings: tuple[str, ...] = ()


# tensors and plain containers only (HMAR, MViT, the detector)
TORCH_WEIGHTS = TorchKind("a weights-only torch checkpoint")
# What a PyTorch-Lightning checkpoint of LART or PHALP pickles besides tensors (OmegaConf hyper-parameters,
# callback and loop states, argparse namespaces): read into inert stand-ins, never constructed or called.
LIGHTNING_CHECKPOINT = TorchKind(
    "a Lightning checkpoint",
    (
        "omegaconf.",
        "typing.",
        "builtins.",
        "collections.",
        "pathlib.",
        "enum.",
        # numpy values in callback states: as inert records, and only these names
        "numpy.ndarray",
        "numpy.dtype",  # numpy.dtype and numpy.dtypes.*
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "argparse.Namespace",
        "lightning.",
        "lightning_fabric.",
        "pytorch_lightning.",
        "hydra.",
        "lart.",
        "phalp.",
    ),
    mappings=("AttributeDict",),
)
# HMR2.0 pickles its yacs config (`hyper_parameters.cfg`); it loads as a plain mapping
HMR2_CHECKPOINT = TorchKind("the HMR2.0 checkpoint", ("yacs.config.CfgNode",), mappings=("yacs.config.CfgNode",))


def _torch_load(path: Path, safe_globals: list[Any]) -> Any:
    import torch  # heavy: only the model loaders need it

    try:
        with torch.serialization.safe_globals(safe_globals):
            return torch.load(path, map_location="cpu", weights_only=True)
    # KeyError: what the weights-only unpickler raises on a damaged (non-zip) pickle stream
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, KeyError) as exc:
        first_line = (str(exc).splitlines() or [""])[0][:300]
        raise WeightsError(
            f"Could not read {path.name}: {first_line}. The file may be truncated or not the released "
            f"checkpoint. {_REDOWNLOAD}"
        ) from None


def load_torch(path: str | Path, kind: TorchKind = TORCH_WEIGHTS) -> Any:
    """`torch.load(weights_only=True)` of a checkpoint, with `kind`'s inert stand-ins.

    Every global the file names beyond torch's own safe set must be one of the kind's stand-ins; any other
    is refused before anything is unpickled. A file that is not a zip checkpoint (legacy format, damaged)
    is left to torch's weights-only unpickler, with stand-ins for the kind's full names.
    """
    import torch  # heavy: only the model loaders need it

    path = _existing(path, "Weight file")

    def stand_in(name: str) -> tuple[type, str]:
        return (PickledMapping if name.endswith(kind.mappings) else InertPickledObject, name)

    if not kind.stand_in_prefixes:
        return _torch_load(path, [])
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile):
        return _torch_load(path, [stand_in(n) for n in kind.stand_in_prefixes if not n.endswith(".")])
    refused = sorted(n for n in names if not n.startswith(kind.stand_in_prefixes))
    if refused:
        raise _refusal(path, kind.description, f"it pickles {', '.join(refused[:5])}")
    return _torch_load(path, [stand_in(n) for n in names])
