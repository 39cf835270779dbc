"""Loading released checkpoints strictly (reading them safely is `lart_demo.safe_load`'s job).

Every model module maps its upstream keys in ONE function and then calls `assign_state_dict`,
so "strict about what we use" means the same thing everywhere: a missing or mis-shaped key is a
`ModelError` that names the key; a key the model does not use must be dropped on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from lart_demo.errors import ModelError, WeightsError


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
