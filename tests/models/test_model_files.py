"""Every model module has the same parts under the same names (timm style), so a reader finds them at once."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from lart_demo.weights.random import RANDOM_WEIGHT_WRITERS

CONFIG_CLASSES = {
    "hmr2": "HMR2Config",
    "hmar": "HMARConfig",
    "pose_predictor": "PosePredictorConfig",
    "mvit": "MViTConfig",
    "lart": "LartConfig",
    "detector": "DetectorConfig",
}


@pytest.mark.parametrize("name", RANDOM_WEIGHT_WRITERS)
def test_model_module_has_the_standard_parts(name: str) -> None:
    module = importlib.import_module(f"lart_demo.models.{name}")
    assert hasattr(module, CONFIG_CLASSES[name])
    for part in (f"build_{name}", "checkpoint_filter_fn", f"load_{name}", f"write_random_{name}"):
        assert callable(getattr(module, part, None)), f"lart_demo.models.{name} lacks {part}"
    load = inspect.signature(getattr(module, f"load_{name}"))
    assert list(load.parameters)[:3] == ["checkpoint", "config", "device"]
    assert list(inspect.signature(module.checkpoint_filter_fn).parameters)[:2] == ["checkpoint", "model"]


def test_only_checkpoint_filter_fn_renames_upstream_keys() -> None:
    """No second key-map function under another name (there used to be five)."""
    models = Path(importlib.import_module("lart_demo.models").__path__[0])
    pattern = re.compile(r"def (\w*(state_dict_from_checkpoint|to_model_keys|to_module_keys)\w*)\(")
    found = [f"{p.name}: {m.group(1)}" for p in models.glob("*.py") for m in pattern.finditer(p.read_text())]
    assert found == []
