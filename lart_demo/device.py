"""Which torch device the models run on (one rule for every stage)."""

from __future__ import annotations

import torch

from lart_demo.errors import InputError


def resolve_device(name: str) -> torch.device:
    """'auto' -> the first CUDA device when there is one, else CPU; 'cuda' without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"Unknown device '{name}': use auto, cpu, cuda or cuda:N.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Device '{name}' was requested but no CUDA GPU is available; use --device cpu.")
    return device


def describe_device(name: str) -> str:
    """The device `name` resolves to, in words for progress lines: 'GPU (<model>)' or 'CPU'."""
    try:
        device = resolve_device(name)
    except InputError:
        return f"{name} (not available)"  # the run itself stops with the full message
    return f"GPU ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type.upper()
