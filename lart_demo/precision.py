"""The one place that decides numeric precision: float32 matmul mode and autocast, per stage and device.

`fp32` reproduces upstream: PyTorch's default float32 (no autocast; matmuls in full float32; cuDNN
convolutions keep PyTorch's default). `bf16` runs the three big networks (detector, HMR2.0, MViT) under
bfloat16 autocast on any device. `auto` is `fp32` on CPU; on CUDA it is `bf16` plus TF32 matmuls.
Whatever the policy, SMPL and the camera maths, the HMAR appearance/UV costs, the pose predictor and
LART run in float32: association thresholds and action logits are sensitive to rounding there.

Stages ask `policy.autocast(stage)` for a context; nothing else in the package opens an autocast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from lart_demo.errors import InputError

PRECISIONS = ("auto", "fp32", "bf16")
# Networks whose activations may run in bfloat16 (large convolutions / attention; outputs go back to fp32).
AUTOCAST_STAGES = ("detector", "hmr2", "mvit")
# Always float32, named so that a call with a typo fails instead of silently running in fp32.
FP32_STAGES = ("smpl", "camera", "hmar", "pose_predictor", "lart")


@dataclass(frozen=True)
class PrecisionPolicy:
    requested: str  # what the user asked for: auto | fp32 | bf16
    device_type: str  # "cpu" | "cuda" | ...
    autocast_dtype: torch.dtype | None  # for AUTOCAST_STAGES; None = float32
    tf32_matmul: bool  # float32 matmuls may use TF32 tensor cores (CUDA only)

    @property
    def name(self) -> str:
        """What actually runs: fp32 or bf16 (with `+tf32` when TF32 matmuls are on)."""
        base = "bf16" if self.autocast_dtype == torch.bfloat16 else "fp32"
        return base + ("+tf32" if self.tf32_matmul else "")

    def stage_dtype(self, stage: str) -> torch.dtype:
        """The compute dtype of `stage` (float32 or the autocast dtype)."""
        if stage in AUTOCAST_STAGES:
            return self.autocast_dtype or torch.float32
        if stage in FP32_STAGES:
            return torch.float32
        raise ValueError(f"Unknown stage {stage!r} for the precision policy.")

    @contextlib.contextmanager
    def autocast(self, stage: str) -> Iterator[None]:
        """The numeric context for one stage: autocast on or explicitly off, TF32 as the policy says."""
        dtype = self.stage_dtype(stage)
        with _matmul_precision("high" if self.tf32_matmul else "highest"):
            if dtype == torch.float32:
                with torch.autocast(self.device_type, enabled=False):
                    yield
            else:
                with torch.autocast(self.device_type, dtype=dtype):
                    yield

    def describe(self) -> dict[str, object]:
        """What results.json records."""
        return {
            "requested": self.requested,
            "effective": self.name,
            "device": self.device_type,
            "autocast_stages": list(AUTOCAST_STAGES) if self.autocast_dtype is not None else [],
            "tf32_matmul": self.tf32_matmul,
        }


def precision_policy(requested: str, device: torch.device | str) -> PrecisionPolicy:
    """The policy for `requested` (auto | fp32 | bf16) on `device`."""
    device_type = torch.device(device).type
    if requested not in PRECISIONS:
        raise InputError(f"Unknown precision {requested!r}: use one of {', '.join(PRECISIONS)}.")
    on_cuda = device_type == "cuda"
    if requested == "fp32" or (requested == "auto" and not on_cuda):
        return PrecisionPolicy(requested, device_type, None, tf32_matmul=False)
    return PrecisionPolicy(requested, device_type, torch.bfloat16, tf32_matmul=on_cuda and requested == "auto")


def fp32_policy(device: torch.device | str) -> PrecisionPolicy:
    """Upstream's float32 on `device` (the default of every stage that is not given a policy)."""
    return precision_policy("fp32", device)


@contextlib.contextmanager
def _matmul_precision(mode: str) -> Iterator[None]:
    """Set torch's float32 matmul precision for the block and restore the previous one afterwards."""
    previous = torch.get_float32_matmul_precision()
    if previous == mode:
        yield
        return
    torch.set_float32_matmul_precision(mode)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
