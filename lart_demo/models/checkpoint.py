"""Loading released checkpoints strictly (reading them safely is `lart_demo.safe_load`'s job).

Every model module maps its upstream keys in ONE function (`checkpoint_filter_fn`) and then calls
`assign_state_dict`, so loading means the same thing everywhere: a key the forward reads that is
missing or mis-shaped is a `ModelError` naming it; keys the forward never reads are skipped, as
upstream's `strict=False` does, and listed in one info line.
"""

from __future__ import annotations

import ast
import fnmatch
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from lart_demo.errors import ModelError, WeightsError

log = logging.getLogger(__name__)


def _first(items: list[str], sep: str, n: int = 8) -> str:
    return sep.join(items[:n]) + (" ..." if len(items) > n else "")


def summarise_keys(keys: Iterable[str], n: int = 12) -> str:
    """Keys grouped by their first name part, e.g. 'discriminator.* (36), smpl.v_template', for one log line."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split(".", 1)[0], []).append(key)
    parts = [f"{head}.* ({len(members)})" if len(members) > 1 else members[0] for head, members in groups.items()]
    return _first(parts, ", ", n)


def assign_state_dict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    model_name: str,
    unused: Iterable[str] = (),
) -> list[str]:
    """Load `state_dict` (already in the module's key names) into `module`, as upstream's `strict=False`
    does, but visibly.

    - every module key the forward reads (all but those matching one of the `unused` glob patterns,
      e.g. "transformer.*") is required: absent or mis-shaped -> ModelError naming the key;
    - everything else is skipped: file keys the module lacks, and `unused` keys that are absent or
      mis-shaped. They are listed in ONE info line and returned.
    Values are cast to the module's dtype (released files may be float16).
    """
    patterns = tuple(unused)
    own = module.state_dict(keep_vars=True)

    def fits(key: str) -> bool:
        return key in state_dict and tuple(own[key].shape) == tuple(state_dict[key].shape)

    needed = [k for k in own if not any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    missing = [k for k in needed if k not in state_dict]
    mis_shaped = [
        f"{k}: model {tuple(own[k].shape)} vs checkpoint {tuple(state_dict[k].shape)}"
        for k in needed
        if k in state_dict and not fits(k)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_first(missing, ', ')}")
    if mis_shaped:
        problems.append(f"mis-shaped keys: {_first(mis_shaped, '; ')}")
    if problems:
        raise ModelError(
            f"The {model_name} checkpoint does not fit the model built from its config: "
            + " | ".join(problems)
            + ". Check that the checkpoint and its config file belong together."
        )
    skipped = [k for k in state_dict if k not in own or not fits(k)]
    absent_unused = [k for k in own if k not in needed and k not in state_dict]
    if skipped or absent_unused:
        log.info(
            "%s checkpoint: skipped %d key(s) the forward never reads%s%s",
            model_name,
            len(skipped),
            f": {summarise_keys(skipped)}" if skipped else "",
            f"; not in the file and not needed: {summarise_keys(absent_unused)}" if absent_unused else "",
        )
    with torch.no_grad():
        for key, target in own.items():
            if not fits(key) or target.is_meta:
                continue
            target.copy_(state_dict[key].to(dtype=target.dtype))
    return skipped


def read_yaml_mapping(path: str | Path, what: str, dialect: str = "yaml") -> Mapping[str, Any]:
    """A config file that ships with a checkpoint (YAML; JSON is YAML too) as a mapping, read the way its
    upstream reads it: `dialect` "yacs" (PySlowFast, 4D-Humans: Python-literal strings decoded) or
    "omegaconf" (LART, PHALP: interpolations resolved); comments and unused sections are fine either way.

    Missing, unreadable or non-mapping files are WeightsErrors naming `what` and what the user can do.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}. Run `python -m lart_demo weights status`.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).replace("\n", " ")
        raise WeightsError(
            f"{path.name} is not a readable YAML config ({reason}). Delete it and download it again."
        ) from exc
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path.name} does not hold a config mapping. Delete it and download it again.")
    if dialect == "yacs":
        return yacs_values(data)
    if dialect == "omegaconf":
        return resolve_interpolations(data)
    return data


def yacs_values(node: Any) -> Any:
    """Values as yacs/PySlowFast decode them: a YAML string holding a Python literal (`(3, 7, 7)`, `1e-6`,
    `[[2, 2.0]]`) becomes that literal; any other string stays a string. Tuples become lists, like YAML's."""
    if isinstance(node, Mapping):
        return {key: yacs_values(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [yacs_values(value) for value in node]
    if isinstance(node, str):
        try:
            value = ast.literal_eval(node)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return node
        return yacs_values(value) if isinstance(value, (list, tuple, dict)) else value
    return node


_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


def resolve_interpolations(root: Mapping[str, Any]) -> dict[str, Any]:
    """OmegaConf-style `${a.b.c}` (absolute) and `${.x}` / `${..x}` (relative) interpolations resolved; a value
    that is only an interpolation keeps the referenced value's type.

    Like OmegaConf, which resolves on access, an interpolation that cannot be resolved (an undefined key, a
    cycle, or a custom resolver such as `${oc.env:...}`, which this app never runs) is left as its text: it
    matters only if the model reads that value, and then the config parser names it.
    """

    def lookup(path: list[str], ref: str, seen: tuple[str, ...]) -> Any:
        if ":" in ref:
            return _UNRESOLVED
        up = len(ref) - len(ref.lstrip("."))
        parts = (path[: max(len(path) - up, 0)] if up else []) + ref.lstrip(".").split(".")
        node: Any = root
        for part in parts:
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return _UNRESOLVED
        dotted = ".".join(parts)
        if dotted in seen:
            return _UNRESOLVED
        return resolve(node, parts, (*seen, dotted))

    def resolve(node: Any, path: list[str], seen: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            return {k: resolve(v, [*path, str(k)], seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, [*path, str(i)], seen) for i, v in enumerate(node)]
        if not isinstance(node, str) or "${" not in node:
            return node
        whole = _INTERPOLATION.fullmatch(node)
        if whole:
            value = lookup(path, whole.group(1), seen)
            return node if value is _UNRESOLVED else value
        pieces = [lookup(path, m.group(1), seen) for m in _INTERPOLATION.finditer(node)]
        if any(piece is _UNRESOLVED for piece in pieces):
            return node
        values = iter(pieces)
        return _INTERPOLATION.sub(lambda _: str(next(values)), node)

    return resolve(root, [], ())


_UNRESOLVED = object()
