"""The one device rule: which device a name resolves to, and how the page names it."""

from __future__ import annotations

import pytest
import torch

from lart_demo.device import describe_device, resolve_device
from lart_demo.errors import InputError


def test_cpu_and_auto_resolve_without_a_gpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert describe_device("cpu") == "CPU"


def test_bad_names_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="Unknown device 'tpu9'"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert describe_device("cuda") == "cuda (not available)"
