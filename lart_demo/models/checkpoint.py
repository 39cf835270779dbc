"""Loading released checkpoints safely and strictly.

Every model module maps its upstream keys in ONE function and then calls `assign_state_dict`,
so "strict about what we use" means the same thing everywhere: a missing or mis-shaped key is a
`ModelError` that names the key; a key the model does not use must be dropped on purpose.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from lart_demo.errors import ModelError, WeightsError


def torch_load_safe(path: str | Path, safe_globals: Sequence[Any] = ()) -> Any:
    """`torch.load` with `weights_only=True` (no arbitrary code from files off the network).

    `safe_globals` lists extra classes (or `(stand_in, "module.Name")` pairs) a file is allowed to
    pickle, e.g. a config object stored next to the tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weight file not found: {path}. Run `python -m lart_demo weights status`.")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    # KeyError: what the weights-only unpickler raises on a damaged (non-zip) pickle stream
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, KeyError) as exc:
        raise WeightsError(
            f"Could not read {path.name}: {str(exc).splitlines()[0][:300]}. The file may be truncated or "
            f"not the released checkpoint; delete it and run `python -m lart_demo weights download`."
        ) from exc


# Lightning pickles its hyper-parameter container (`AttributeDict`, a dict subclass) into checkpoints
LIGHTNING_MAPPINGS = ("AttributeDict",)
# What a PyTorch-Lightning checkpoint of LART or PHALP pickles besides tensors (OmegaConf hyper-parameters,
# callback and loop states, argparse namespaces): read into inert stand-ins, never constructed or called.
LIGHTNING_STAND_IN_PREFIXES = (
    "omegaconf.",
    "typing.",
    "builtins.",
    "collections.",
    "pathlib.",
    "enum.",
    "numpy.",
    "argparse.Namespace",
    "lightning.",
    "lightning_fabric.",
    "pytorch_lightning.",
    "hydra.",
    "lart.",
    "phalp.",
)


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


def torch_load_with_stand_ins(
    path: str | Path, *, allowed: Sequence[str], mappings: Sequence[str] = (), model_name: str
) -> Any:
    """`torch_load_safe` of a checkpoint that pickles config objects next to its tensors (Lightning hyper-parameters).

    Every global the file names beyond torch's own safe set must start with one of `allowed` (a module prefix
    such as "omegaconf." or a full name); it loads as an inert stand-in: a `PickledMapping` when its name ends
    with one of `mappings`, else an `InertPickledObject`. Any other global is a WeightsError naming it, before
    anything is unpickled. A file that is not a zip checkpoint (legacy format, damaged) is left to
    `torch_load_safe`, with stand-ins for the full names in `allowed`.
    """
    path = Path(path)
    allowed_prefixes = tuple(allowed)

    def stand_in(name: str) -> tuple[type, str]:
        return (PickledMapping if name.endswith(tuple(mappings)) else InertPickledObject, name)

    if not path.is_file():
        return torch_load_safe(path)  # raises the user-facing "not found" WeightsError
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile):
        return torch_load_safe(path, safe_globals=[stand_in(n) for n in allowed_prefixes if not n.endswith(".")])
    refused = sorted(n for n in names if not n.startswith(allowed_prefixes))
    if refused:
        raise WeightsError(
            f"{path.name} pickles objects that are not allowed in the {model_name} checkpoint: "
            f"{', '.join(refused[:5])}. It is not the released file; delete it and run "
            "`python -m lart_demo weights download`."
        )
    return torch_load_safe(path, safe_globals=[stand_in(n) for n in names])


def _first(items: list[str], sep: str, n: int = 8) -> str:
    return sep.join(items[:n]) + (" ..." if len(items) > n else "")


def assign_state_dict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    model_name: str,
    ignore_prefixes: Iterable[str] = (),
    optional_keys: Iterable[str] = (),
) -> None:
    """Load `state_dict` (already in the module's key names) into `module`, strictly.

    - a module key absent from `state_dict` (and not in `optional_keys`) -> ModelError naming it;
    - a shape mismatch -> ModelError naming key, expected and found shapes;
    - a checkpoint key the module lacks, unless it starts with one of `ignore_prefixes` -> ModelError.
    Values are cast to the module's dtype (released files may be float16).
    """
    ignore = tuple(ignore_prefixes)
    optional = set(optional_keys)
    own = module.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state_dict and k not in optional]
    unexpected = [k for k in state_dict if k not in own and not k.startswith(ignore)]
    mis_shaped = [
        f"{k}: model {tuple(own[k].shape)} vs checkpoint {tuple(state_dict[k].shape)}"
        for k in own
        if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_first(missing, ', ')}")
    if mis_shaped:
        problems.append(f"mis-shaped keys: {_first(mis_shaped, '; ')}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_first(unexpected, ', ')}")
    if problems:
        raise ModelError(
            f"The {model_name} checkpoint does not fit the model built from its config: "
            + " | ".join(problems)
            + ". Check that the checkpoint and its config file belong together."
        )
    with torch.no_grad():
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if target.is_meta:
                continue
            target.copy_(value.to(dtype=target.dtype))


def read_yaml_mapping(path: str | Path, what: str) -> Mapping[str, Any]:
    """A config file that ships with a checkpoint (YAML; JSON is YAML too) as a mapping.

    Missing, unreadable or non-mapping files are WeightsErrors naming `what` and what the user can do.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}. Run `python -m lart_demo weights status`.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WeightsError(
            f"{path.name} is not a readable YAML config ({exc}). Delete it and download it again."
        ) from exc
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path.name} does not hold a config mapping. Delete it and download it again.")
    return data
