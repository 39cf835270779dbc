"""The precision policy: what each of auto / fp32 / bf16 runs per stage and device, and where it is read from."""

from __future__ import annotations

import pytest
import torch

from lart_demo.config import settings_from_env
from lart_demo.errors import InputError
from lart_demo.precision import AUTOCAST_STAGES, FP32_STAGES, precision_policy


def _matmul_dtype(policy, stage: str) -> torch.dtype:
    a = torch.randn(8, 8)
    with policy.autocast(stage):
        return (a @ a).dtype


@pytest.mark.parametrize("requested", ["auto", "fp32"])
def test_cpu_default_and_fp32_are_upstream_float32(requested: str) -> None:
    policy = precision_policy(requested, "cpu")
    assert policy.name == "fp32" and not policy.tf32_matmul
    for stage in AUTOCAST_STAGES + FP32_STAGES:
        assert policy.stage_dtype(stage) == torch.float32
        assert _matmul_dtype(policy, stage) == torch.float32


def test_auto_on_cuda_is_bf16_for_the_big_networks_with_tf32() -> None:
    policy = precision_policy("auto", torch.device("cuda"))  # the policy itself needs no GPU
    assert policy.name == "bf16+tf32" and policy.tf32_matmul
    assert all(policy.stage_dtype(s) == torch.bfloat16 for s in ("detector", "hmr2", "mvit"))
    assert all(policy.stage_dtype(s) == torch.float32 for s in ("smpl", "camera", "hmar", "lart"))
    assert precision_policy("fp32", "cuda").name == "fp32"
    assert precision_policy("bf16", "cuda").name == "bf16"  # explicit bf16: no TF32 for the fp32 stages


def test_bf16_autocasts_only_the_big_networks() -> None:
    policy = precision_policy("bf16", "cpu")
    assert _matmul_dtype(policy, "mvit") == torch.bfloat16
    assert _matmul_dtype(policy, "hmr2") == torch.bfloat16
    # float32 stages switch autocast off even inside a bf16 region
    with policy.autocast("hmr2"):
        assert _matmul_dtype(policy, "smpl") == torch.float32
    assert policy.describe() == {
        "requested": "bf16",
        "effective": "bf16",
        "device": "cpu",
        "autocast_stages": ["detector", "hmr2", "mvit"],
        "tf32_matmul": False,
    }


def test_tf32_setting_is_scoped_to_the_stage() -> None:
    before = torch.get_float32_matmul_precision()
    policy = precision_policy("auto", "cuda")
    with policy.autocast("lart") if torch.cuda.is_available() else _cpu_twin(policy):
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before


def _cpu_twin(policy):
    """The same policy on CPU (autocast needs an available device type; TF32 handling is the same)."""
    from dataclasses import replace

    return replace(policy, device_type="cpu").autocast("lart")


def test_unknown_precision_and_stage_are_errors() -> None:
    with pytest.raises(InputError, match="Unknown precision 'fp16'"):
        precision_policy("fp16", "cpu")
    with pytest.raises(ValueError, match="Unknown stage"):
        precision_policy("fp32", "cpu").stage_dtype("renderer")


def test_precision_comes_from_env_and_flags() -> None:
    assert settings_from_env({}).precision == "auto"
    assert settings_from_env({"LART_DEMO_PRECISION": "bf16"}).precision == "bf16"
    assert settings_from_env({"LART_DEMO_PRECISION": "bf16"}, precision="fp32").precision == "fp32"


def test_cli_accepts_precision_flag() -> None:
    from lart_demo.cli import _analyze_parser, _settings

    args = _analyze_parser().parse_args(["clip.mp4", "--out", "o", "--precision", "bf16"])
    assert _settings(args).precision == "bf16"
    with pytest.raises(SystemExit):
        _analyze_parser().parse_args(["clip.mp4", "--out", "o", "--precision", "fp16"])
