"""AVA MViTv2 with the RoI head, as in LART's SlowFast fork: one clip + person boxes -> appearance feature.

The model is built from the PySlowFast `mvit.yaml` that ships with `mvit.pyth` (merged over the fork's
defaults, see `FORK_DEFAULTS`). Module and parameter names follow the released checkpoint, so the key map
(`checkpoint_filter_fn`) only unwraps the container and reconciles relative-position table lengths.

Fidelity points (../shared/reference/mvit_spec.md §3-4):
- the relative-position index is computed in float32 in the fork's exact order, then truncated; torchvision's
  algebraically equal formula rounds differently at 312 px and moves features by up to 0.13;
- relative-position tables are resized at run time with `linear` interpolation and align_corners=False,
  because the constructor sizes (floor) differ from the run-time token grids (ceil);
- the feature LART consumes is the RoI-pooled vector *before* the 80-way classifier.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from torchvision.ops import roi_align

from lart_demo.errors import ModelError
from lart_demo.models.checkpoint import assign_state_dict, read_yaml_mapping, yacs_values
from lart_demo.safe_load import load_torch
from lart_demo.weights.files import WeightFiles

log = logging.getLogger(__name__)

MODEL_NAME = "AVA MViT"
LAYER_NORM_EPS = 1e-6

# The fork's defaults (slowfast/config/defaults.py) for every key this module reads; a mvit.yaml is merged
# over these exactly as PySlowFast's `load_config` does. Keys of these sections that are not listed here
# do not change inference (data loading, training, visualisation) and are ignored.
FORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "DATA": {
        "NUM_FRAMES": 8,
        "SAMPLING_RATE": 8,
        "MEAN": [0.45, 0.45, 0.45],
        "STD": [0.225, 0.225, 0.225],
        "INPUT_CHANNEL_NUM": [3, 3],
        "TRAIN_CROP_SIZE": 224,
        "TEST_CROP_SIZE": 256,
        "REVERSE_INPUT_CHANNEL": False,
    },
    "MODEL": {
        "ARCH": "slowfast",
        "MODEL_NAME": "SlowFast",
        "NUM_CLASSES": 400,
        "HEAD_ACT": "softmax",
        "DROPOUT_RATE": 0.5,
    },
    "DETECTION": {
        "ENABLE": False,
        "ALIGNED": True,
        "SPATIAL_SCALE_FACTOR": 16,
        "ROI_XFORM_RESOLUTION": 7,
    },
    "DEMO": {"INPUT_FORMAT": "BGR"},
    "MVIT": {
        "MODE": "conv",
        "POOL_FIRST": False,
        "CLS_EMBED_ON": True,
        "PATCH_KERNEL": [3, 7, 7],
        "PATCH_STRIDE": [2, 4, 4],
        "PATCH_PADDING": [2, 4, 4],
        "PATCH_2D": False,
        "EMBED_DIM": 96,
        "NUM_HEADS": 1,
        "MLP_RATIO": 4.0,
        "QKV_BIAS": True,
        "DROPPATH_RATE": 0.1,
        "LAYER_SCALE_INIT_VALUE": 0.0,
        "DEPTH": 16,
        "NORM": "layernorm",
        "DIM_MUL": [],
        "HEAD_MUL": [],
        "POOL_KV_STRIDE": [],
        "POOL_KV_STRIDE_ADAPTIVE": None,
        "POOL_Q_STRIDE": [],
        "POOL_KVQ_KERNEL": None,
        "ZERO_DECAY_POS_CLS": True,
        "NORM_STEM": False,
        "SEP_POS_EMBED": False,
        "DROPOUT_RATE": 0.0,
        "USE_ABS_POS": True,
        "REL_POS_SPATIAL": False,
        "REL_POS_TEMPORAL": False,
        "REL_POS_ZERO_INIT": False,
        "RESIDUAL_POOLING": False,
        "DIM_MUL_IN_ATT": False,
        "SEPARATE_QKV": False,
        "HEAD_INIT_SCALE": 1.0,
        "USE_MEAN_POOLING": False,
        "USE_FIXED_SINCOS_POS": False,
        "REV": {"ENABLE": False},
    },
}

# Fork options this implementation covers only at one value (the one the AVA MViTv2 uses): (section, key) -> value.
_UNSUPPORTED = {
    ("MVIT", "MODE"): "conv",
    ("MVIT", "POOL_FIRST"): False,
    ("MVIT", "PATCH_2D"): False,
    ("MVIT", "NORM"): "layernorm",
    ("MVIT", "LAYER_SCALE_INIT_VALUE"): 0.0,
    ("MVIT", "NORM_STEM"): False,
    ("MVIT", "USE_ABS_POS"): False,
    ("MVIT", "SEPARATE_QKV"): False,
    ("MVIT", "USE_FIXED_SINCOS_POS"): False,
    ("MODEL", "ARCH"): "mvit",
    ("DETECTION", "ENABLE"): True,
    # the fork's pack_pathway_output flips RGB->BGR after normalising when this is set; LART's feature path
    # here does not (DEMO.INPUT_FORMAT is what decides the colour order)
    ("DATA", "REVERSE_INPUT_CHANNEL"): False,
}

# The released AVA model as inferred in mvit_spec.md §2 (MaskFeat MViTv2-L, 40x3, 312 px, RoI head 1/32).
RELEASED_MVIT_YAML: dict[str, Any] = {
    "DATA": {
        "NUM_FRAMES": 40,
        "SAMPLING_RATE": 3,
        "TRAIN_CROP_SIZE": 312,
        "TEST_CROP_SIZE": 312,
        "INPUT_CHANNEL_NUM": [3],
        "MEAN": [0.45, 0.45, 0.45],
        "STD": [0.225, 0.225, 0.225],
    },
    "MVIT": {
        "ZERO_DECAY_POS_CLS": False,
        "USE_ABS_POS": False,
        "REL_POS_SPATIAL": True,
        "REL_POS_TEMPORAL": True,
        "DEPTH": 48,
        "NUM_HEADS": 2,
        "EMBED_DIM": 144,
        "PATCH_KERNEL": [3, 7, 7],
        "PATCH_STRIDE": [2, 4, 4],
        "PATCH_PADDING": [1, 3, 3],
        "MLP_RATIO": 4.0,
        "QKV_BIAS": True,
        "DROPPATH_RATE": 0.5,
        "NORM": "layernorm",
        "MODE": "conv",
        "CLS_EMBED_ON": True,
        "DIM_MUL": [[2, 2.0], [8, 2.0], [44, 2.0]],
        "HEAD_MUL": [[2, 2.0], [8, 2.0], [44, 2.0]],
        "POOL_KVQ_KERNEL": [3, 3, 3],
        "POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
        "POOL_Q_STRIDE": [[i, 1, 2, 2] if i in (2, 8, 44) else [i, 1, 1, 1] for i in range(48)],
        "DROPOUT_RATE": 0.0,
        "DIM_MUL_IN_ATT": False,
        "RESIDUAL_POOLING": True,
    },
    "MODEL": {
        "NUM_CLASSES": 80,
        "ARCH": "mvit",
        "MODEL_NAME": "MViT",
        "LOSS_FUNC": "bce",
        "DROPOUT_RATE": 0.5,
        "HEAD_ACT": "sigmoid",
    },
    "DETECTION": {"ENABLE": True, "ALIGNED": True, "SPATIAL_SCALE_FACTOR": 32, "ROI_XFORM_RESOLUTION": 7},
    "NUM_GPUS": 1,
}

# A small model with the same mechanisms (pooling, rel-pos, residual pooling, RoI head at stride 32) that
# runs a clip in a few milliseconds on CPU: for tests and `weights make-random --profile tiny`.
TINY_MVIT_YAML: dict[str, Any] = {
    "DATA": {**RELEASED_MVIT_YAML["DATA"], "NUM_FRAMES": 4, "TRAIN_CROP_SIZE": 64, "TEST_CROP_SIZE": 64},
    "MVIT": {
        **{k: v for k, v in RELEASED_MVIT_YAML["MVIT"].items() if k not in ("DEPTH", "POOL_Q_STRIDE")},
        "DEPTH": 4,
        "NUM_HEADS": 1,
        "EMBED_DIM": 16,
        "DIM_MUL": [[1, 2.0], [2, 2.0], [3, 2.0]],
        "HEAD_MUL": [[1, 2.0], [2, 2.0], [3, 2.0]],
        "POOL_Q_STRIDE": [[0, 1, 1, 1], [1, 1, 2, 2], [2, 1, 2, 2], [3, 1, 2, 2]],
    },
    "MODEL": dict(RELEASED_MVIT_YAML["MODEL"]),
    "DETECTION": dict(RELEASED_MVIT_YAML["DETECTION"]),
    "NUM_GPUS": 0,
}
PROFILES = {"tiny": TINY_MVIT_YAML, "full": RELEASED_MVIT_YAML}


# ----------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class MViTConfig:
    """Everything the model and LART's clip sampling read from mvit.yaml."""

    num_frames: int
    sampling_rate: int
    crop_size: int  # DATA.TEST_CROP_SIZE (== TRAIN_CROP_SIZE, asserted by the fork's constructor)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_format: str  # DEMO.INPUT_FORMAT: "BGR" => frames are converted to RGB before the model
    in_chans: int
    embed_dim: int
    num_heads: int
    depth: int
    mlp_ratio: float
    qkv_bias: bool
    patch_kernel: tuple[int, int, int]
    patch_stride: tuple[int, int, int]
    patch_padding: tuple[int, int, int]
    cls_embed: bool
    dim_mul: tuple[tuple[int, float], ...]
    head_mul: tuple[tuple[int, float], ...]
    pool_q_stride: tuple[tuple[int, ...], ...]
    pool_kv_stride: tuple[tuple[int, ...], ...]
    pool_kv_stride_adaptive: tuple[int, int, int] | None
    pool_kvq_kernel: tuple[int, int, int] | None
    rel_pos_spatial: bool
    rel_pos_temporal: bool
    residual_pooling: bool
    dim_mul_in_att: bool
    num_classes: int
    head_act: str
    roi_resolution: int
    spatial_scale_factor: float
    roi_aligned: bool

    @property
    def seq_length(self) -> int:
        """Frames spanned by one clip (LART: NUM_FRAMES x SAMPLING_RATE)."""
        return self.num_frames * self.sampling_rate


def merge_fork_config(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`raw` (a parsed mvit.yaml / config.json) merged over `FORK_DEFAULTS`, restricted to the keys we read."""
    merged = copy.deepcopy(FORK_DEFAULTS)
    for section, defaults in merged.items():
        given = raw.get(section) or {}
        if not isinstance(given, Mapping):
            raise ModelError(f"mvit.yaml: section {section} is not a mapping. Re-download mvit.yaml.")
        for key, value in given.items():
            if key in defaults:
                if isinstance(defaults[key], dict) and isinstance(value, Mapping):
                    defaults[key].update({k: v for k, v in value.items() if k in defaults[key]})
                else:
                    defaults[key] = value
            elif section == "MVIT":
                # An MViT key we do not know could change the architecture: say so instead of guessing.
                log.warning("mvit.yaml: MVIT.%s is not a SlowFast-fork option this model knows; ignored.", key)
    for (section, key), required in _UNSUPPORTED.items():
        value = merged[section][key]
        if value != required:
            raise ModelError(
                f"mvit.yaml sets {section}.{key}={value!r}; this MViT implements {section}.{key}={required!r} "
                f"(the AVA MViTv2 LART uses). Use the mvit.yaml released with LART's mvit.pyth."
            )
    if merged["MVIT"]["REV"].get("ENABLE"):
        raise ModelError("mvit.yaml enables MVIT.REV (reversible MViT), which this model does not implement.")
    return merged


def mvit_config_from_dict(raw: Mapping[str, Any]) -> MViTConfig:
    """Parse a PySlowFast config mapping (mvit.yaml or a golden config.json) into `MViTConfig`."""
    cfg = merge_fork_config(yacs_values(raw))
    try:
        return _mvit_config(cfg)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ModelError(f"mvit.yaml has a value of the wrong form ({type(exc).__name__}: {exc}).") from exc


def _mvit_config(cfg: dict[str, dict[str, Any]]) -> MViTConfig:
    data, mvit, model, det = cfg["DATA"], cfg["MVIT"], cfg["MODEL"], cfg["DETECTION"]
    if int(data["TRAIN_CROP_SIZE"]) != int(data["TEST_CROP_SIZE"]):
        raise ModelError(
            f"mvit.yaml: DATA.TRAIN_CROP_SIZE {data['TRAIN_CROP_SIZE']} != TEST_CROP_SIZE {data['TEST_CROP_SIZE']}; "
            "the SlowFast MViT requires them equal."
        )
    if model["HEAD_ACT"] not in ("sigmoid", "softmax"):
        raise ModelError(f"mvit.yaml: MODEL.HEAD_ACT={model['HEAD_ACT']!r} is not sigmoid or softmax.")

    def triple(v: Sequence[Any]) -> tuple[int, int, int]:
        return (int(v[0]), int(v[1]), int(v[2]))

    return MViTConfig(
        num_frames=int(data["NUM_FRAMES"]),
        sampling_rate=int(data["SAMPLING_RATE"]),
        crop_size=int(data["TEST_CROP_SIZE"]),
        mean=tuple(float(x) for x in data["MEAN"]),  # type: ignore[arg-type]
        std=tuple(float(x) for x in data["STD"]),  # type: ignore[arg-type]
        input_format=str(cfg["DEMO"]["INPUT_FORMAT"]).upper(),
        in_chans=int(data["INPUT_CHANNEL_NUM"][0]),
        embed_dim=int(mvit["EMBED_DIM"]),
        num_heads=int(mvit["NUM_HEADS"]),
        depth=int(mvit["DEPTH"]),
        mlp_ratio=float(mvit["MLP_RATIO"]),
        qkv_bias=bool(mvit["QKV_BIAS"]),
        patch_kernel=triple(mvit["PATCH_KERNEL"]),
        patch_stride=triple(mvit["PATCH_STRIDE"]),
        patch_padding=triple(mvit["PATCH_PADDING"]),
        cls_embed=bool(mvit["CLS_EMBED_ON"]),
        dim_mul=tuple((int(i), float(m)) for i, m in mvit["DIM_MUL"]),
        head_mul=tuple((int(i), float(m)) for i, m in mvit["HEAD_MUL"]),
        pool_q_stride=tuple(tuple(int(x) for x in row) for row in mvit["POOL_Q_STRIDE"]),
        pool_kv_stride=tuple(tuple(int(x) for x in row) for row in mvit["POOL_KV_STRIDE"]),
        pool_kv_stride_adaptive=None
        if mvit["POOL_KV_STRIDE_ADAPTIVE"] is None
        else triple(mvit["POOL_KV_STRIDE_ADAPTIVE"]),
        pool_kvq_kernel=None if mvit["POOL_KVQ_KERNEL"] is None else triple(mvit["POOL_KVQ_KERNEL"]),
        rel_pos_spatial=bool(mvit["REL_POS_SPATIAL"]),
        rel_pos_temporal=bool(mvit["REL_POS_TEMPORAL"]),
        residual_pooling=bool(mvit["RESIDUAL_POOLING"]),
        dim_mul_in_att=bool(mvit["DIM_MUL_IN_ATT"]),
        num_classes=int(model["NUM_CLASSES"]),
        head_act=str(model["HEAD_ACT"]),
        roi_resolution=int(det["ROI_XFORM_RESOLUTION"]),
        spatial_scale_factor=float(det["SPATIAL_SCALE_FACTOR"]),
        roi_aligned=bool(det["ALIGNED"]),
    )


def read_mvit_config(path: str | Path) -> MViTConfig:
    """Read mvit.yaml (JSON is valid YAML, so golden config.json files work too)."""
    return mvit_config_from_dict(read_yaml_mapping(path, "MViT config", "yacs"))


# ------------------------------------------------------------------------------------ block schedule


def round_width(width: float, multiplier: float, min_width: int = 1, divisor: int = 1) -> int:
    """PySlowFast's channel rounding (used for head counts and widths)."""
    if not multiplier:
        return int(width)
    width *= multiplier
    min_width = min_width or divisor
    width_out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if width_out < 0.9 * width:
        width_out += divisor
    return int(width_out)


@dataclass(frozen=True)
class BlockSpec:
    dim: int
    dim_out: int
    num_heads: int
    input_size: tuple[int, int, int]  # constructor-time token grid (sizes the rel-pos tables)
    kernel_q: tuple[int, ...]
    kernel_kv: tuple[int, ...]
    stride_q: tuple[int, ...]
    stride_kv: tuple[int, ...]


def block_specs(cfg: MViTConfig) -> list[BlockSpec]:
    """Per-block widths, heads and pooling, following the fork's MViT constructor."""
    depth = cfg.depth
    dim_mul = [1.0] * (depth + 1)
    head_mul = [1.0] * (depth + 1)
    for i, m in cfg.dim_mul:
        dim_mul[i] = m
    for i, m in cfg.head_mul:
        head_mul[i] = m
    stride_q: list[tuple[int, ...]] = [()] * depth
    pool_q: list[tuple[int, ...]] = [()] * depth
    stride_kv: list[tuple[int, ...]] = [()] * depth
    pool_kv: list[tuple[int, ...]] = [()] * depth

    def kernel_for(stride: tuple[int, ...]) -> tuple[int, ...]:
        if cfg.pool_kvq_kernel is not None:
            return cfg.pool_kvq_kernel
        return tuple(s + 1 if s > 1 else s for s in stride)

    for row in cfg.pool_q_stride:
        stride_q[row[0]] = tuple(row[1:])
        pool_q[row[0]] = kernel_for(tuple(row[1:]))
    kv_rows = list(cfg.pool_kv_stride)
    if cfg.pool_kv_stride_adaptive is not None:
        # The kv stride shrinks with every q stride so that k/v keep a constant grid size.
        current = list(cfg.pool_kv_stride_adaptive)
        kv_rows = []
        for i in range(depth):
            if stride_q[i]:
                current = [max(current[d] // stride_q[i][d], 1) for d in range(len(current))]
            kv_rows.append((i, *current))
    for row in kv_rows:
        stride_kv[row[0]] = tuple(row[1:])
        pool_kv[row[0]] = kernel_for(tuple(row[1:]))

    input_size = [cfg.num_frames // cfg.patch_stride[0]] + [cfg.crop_size // s for s in cfg.patch_stride[1:]]
    embed_dim, num_heads = cfg.embed_dim, cfg.num_heads
    specs = []
    for i in range(depth):
        num_heads = round_width(num_heads, head_mul[i])
        if cfg.dim_mul_in_att:
            dim_out = round_width(embed_dim, dim_mul[i], divisor=round_width(num_heads, head_mul[i]))
        else:
            dim_out = round_width(embed_dim, dim_mul[i + 1], divisor=round_width(num_heads, head_mul[i + 1]))
        specs.append(
            BlockSpec(
                dim=embed_dim,
                dim_out=dim_out,
                num_heads=num_heads,
                input_size=(input_size[0], input_size[1], input_size[2]),
                kernel_q=pool_q[i],
                kernel_kv=pool_kv[i],
                stride_q=stride_q[i],
                stride_kv=stride_kv[i],
            )
        )
        if stride_q[i]:
            input_size = [size // s for size, s in zip(input_size, stride_q[i], strict=True)]
        embed_dim = dim_out
    return specs


# ---------------------------------------------------------------------------------- relative positions


@lru_cache(maxsize=256)
def rel_pos_index(q_size: int, k_size: int) -> torch.Tensor:
    """Table row for every (query, key) pair along one axis: the fork's float32 formula, truncated.

    The operation order matters: `q*qr - k*kr` then `+= (k-1)*kr`, all in float32, then `.long()`.
    """
    q_ratio = max(k_size / q_size, 1.0)
    k_ratio = max(q_size / k_size, 1.0)
    # Cached across calls, so never create it as an inference-mode tensor (unusable later under autograd).
    with torch.inference_mode(False):
        dist = torch.arange(q_size)[:, None] * q_ratio - torch.arange(k_size)[None, :] * k_ratio
        dist += (k_size - 1) * k_ratio
        return dist.long()


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """Resize a (L, C) relative-position table to `length` rows (linear, align_corners=False); no-op if equal."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.reshape(1, table.shape[0], -1).permute(0, 2, 1), size=length, mode="linear")
    return resized.reshape(-1, length).permute(1, 0)


def rel_pos_spatial_terms(
    q: torch.Tensor,
    cls_offset: int,
    q_thw: Sequence[int],
    k_thw: Sequence[int],
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query token (cls excluded): q.Rh[y, y'] (B, heads, Nq, k_h) and q.Rw[x, x'] (B, heads, Nq, k_w).

    These are query-sized, not attention-sized: the attention map gets them broadcast over the other key axes.
    """
    q_t, q_h, q_w = q_thw
    _, k_h, k_w = k_thw
    rh = resize_rel_pos(rel_pos_h, 2 * max(q_h, k_h) - 1)[rel_pos_index(q_h, k_h).to(q.device)]
    rw = resize_rel_pos(rel_pos_w, 2 * max(q_w, k_w) - 1)[rel_pos_index(q_w, k_w).to(q.device)]
    b, heads, _, dim = q.shape
    r_q = q[:, :, cls_offset:].reshape(b, heads, q_t, q_h, q_w, dim)
    rel_h = torch.einsum("bythwc,hkc->bythwk", r_q, rh)
    rel_w = torch.einsum("bythwc,wkc->bythwk", r_q, rw)
    return rel_h.reshape(b, heads, -1, k_h), rel_w.reshape(b, heads, -1, k_w)


def rel_pos_temporal_terms(
    q: torch.Tensor, cls_offset: int, q_thw: Sequence[int], k_thw: Sequence[int], rel_pos_t: torch.Tensor
) -> torch.Tensor:
    """Per query token (cls excluded): q.Rt[t, t'] as (B, heads, Nq, k_t)."""
    q_t, q_h, q_w = q_thw
    k_t = k_thw[0]
    rt = resize_rel_pos(rel_pos_t, 2 * max(q_t, k_t) - 1)[rel_pos_index(q_t, k_t).to(q.device)]
    b, heads, _, dim = q.shape
    r_q = q[:, :, cls_offset:].reshape(b, heads, q_t, q_h, q_w, dim)
    r_q = r_q.permute(2, 0, 1, 3, 4, 5).reshape(q_t, b * heads * q_h * q_w, dim)
    rel = torch.matmul(r_q, rt.transpose(1, 2)).transpose(0, 1)
    rel = rel.view(b, heads, q_h, q_w, q_t, k_t).permute(0, 1, 4, 2, 3, 5)
    return rel.reshape(b, heads, -1, k_t)


def _add_rel_terms(
    body: torch.Tensor,
    k_thw: Sequence[int],
    rel_h: torch.Tensor | None = None,
    rel_w: torch.Tensor | None = None,
    rel_t: torch.Tensor | None = None,
) -> None:
    """In place: body (B, heads, n, Nk) += the per-query terms (B, heads, n, k_*) broadcast over the key grid.

    The additions run in the fork's order (h, then w, then t), so each score sees the same float rounding.
    """
    k_t, k_h, k_w = k_thw
    b, heads, n, _ = body.shape
    grid = body.view(b, heads, n, k_t, k_h, k_w)
    if rel_h is not None:
        grid += rel_h[:, :, :, None, :, None]
    if rel_w is not None:
        grid += rel_w[:, :, :, None, None, :]
    if rel_t is not None:
        grid += rel_t[:, :, :, :, None, None]


# Upper bound on one chunk of attention scores. The full map of the released model's block 2 is ~5.6 GB per
# clip in float32; chunks of this size keep the peak at a few hundred MB and are still large matmuls.
ATTN_CHUNK_BYTES = 128 << 20


def chunked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    cls_offset: int,
    k_thw: Sequence[int],
    rel_h: torch.Tensor | None = None,
    rel_w: torch.Tensor | None = None,
    rel_t: torch.Tensor | None = None,
    chunk_bytes: int = ATTN_CHUNK_BYTES,
    on_chunk: Callable[[], None] | None = None,
) -> torch.Tensor:
    """softmax((q*scale) k^T + relative-position terms) v, one block of query rows at a time.

    Every query row's scores depend only on that row, so computing rows in blocks gives the same function as
    the materialised map while holding at most `chunk_bytes` of scores (plus the softmax output) at once.
    The rel-pos terms (B, heads, Nq - cls_offset, k_*) apply to body rows x body keys, as in the fork.
    `on_chunk()` runs after each block of rows (cancel checks inside a block that takes seconds on CPU).
    """
    b, heads, n_q, _ = q.shape
    n_k = k.shape[2]
    rows = max(1, chunk_bytes // max(1, b * heads * n_k * q.element_size()))
    k_t = k.transpose(-2, -1)
    out: torch.Tensor | None = None
    for start in range(0, n_q, rows):
        end = min(n_q, start + rows)
        attn = (q[:, :, start:end] * scale) @ k_t
        body_start = max(start, cls_offset)
        if body_start < end and (rel_h is not None or rel_w is not None or rel_t is not None):
            lo, hi = body_start - cls_offset, end - cls_offset
            _add_rel_terms(
                attn[:, :, body_start - start :, cls_offset:],
                k_thw,
                rel_h=None if rel_h is None else rel_h[:, :, lo:hi],
                rel_w=None if rel_w is None else rel_w[:, :, lo:hi],
                rel_t=None if rel_t is None else rel_t[:, :, lo:hi],
            )
        attn = attn.softmax(dim=-1)
        part = attn @ v
        if out is None:  # allocated from the first block so that autocast decides the dtype, as for one matmul
            out = part.new_empty((b, heads, n_q, part.shape[-1]))
        out[:, :, start:end] = part
        if on_chunk is not None:
            on_chunk()
    assert out is not None
    return out


# ------------------------------------------------------------------------------------------- modules


def pool_tokens(
    x: torch.Tensor, pool: nn.Module | None, thw: Sequence[int], cls_offset: int, norm: nn.Module | None = None
) -> tuple[torch.Tensor, list[int]]:
    """Pool (B, heads, N, C) or (B, N, C) tokens on their (t, h, w) grid; the cls token bypasses the pool."""
    if pool is None:
        return x, list(thw)
    squeeze = x.ndim == 3
    if squeeze:
        x = x.unsqueeze(1)
    cls_tok, x = x[:, :, :cls_offset, :], x[:, :, cls_offset:, :]
    b, heads, _, c = x.shape
    t, h, w = thw
    x = x.reshape(b * heads, t, h, w, c).permute(0, 4, 1, 2, 3).contiguous()
    x = pool(x)
    new_thw = [x.shape[2], x.shape[3], x.shape[4]]
    x = x.reshape(b, heads, c, -1).transpose(2, 3)
    if cls_offset:
        x = torch.cat((cls_tok, x), dim=2)
    if norm is not None:
        x = norm(x)
    if squeeze:
        x = x.squeeze(1)
    return x, new_thw


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, dim: int, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int]):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=tuple(kernel), stride=tuple(stride), padding=tuple(padding))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        x = self.proj(x)
        thw = [x.shape[2], x.shape[3], x.shape[4]]
        return x.flatten(2).transpose(1, 2), thw


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dim_out: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _depthwise_pool(dim: int, kernel: Sequence[int], stride: Sequence[int]) -> nn.Conv3d:
    return nn.Conv3d(
        dim, dim, tuple(kernel), stride=tuple(stride), padding=tuple(k // 2 for k in kernel), groups=dim, bias=False
    )


class MultiScaleAttention(nn.Module):
    """Pooling attention (fused qkv, conv pooling shared across heads) with decomposed relative positions."""

    def __init__(self, dim: int, dim_out: int, spec: BlockSpec, cfg: MViTConfig):
        super().__init__()
        self.num_heads = spec.num_heads
        self.dim_out = dim_out
        head_dim = dim_out // spec.num_heads
        self.scale = head_dim**-0.5
        self.cls_offset = 1 if cfg.cls_embed else 0
        self.residual_pooling = cfg.residual_pooling
        self.qkv = nn.Linear(dim, dim_out * 3, bias=cfg.qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)
        self.chunk_bytes = ATTN_CHUNK_BYTES  # scores held at once; see `chunked_attention`
        # A 1x1x1 kernel with stride 1 means "no pooling" in the fork.
        kernel_q = () if math.prod(spec.kernel_q) == 1 and math.prod(spec.stride_q) == 1 else spec.kernel_q
        kernel_kv = () if math.prod(spec.kernel_kv) == 1 and math.prod(spec.stride_kv) == 1 else spec.kernel_kv
        self.pool_q = _depthwise_pool(head_dim, kernel_q, spec.stride_q) if kernel_q else None
        self.norm_q = nn.LayerNorm(head_dim, eps=LAYER_NORM_EPS) if kernel_q else None
        self.pool_k = _depthwise_pool(head_dim, kernel_kv, spec.stride_kv) if kernel_kv else None
        self.norm_k = nn.LayerNorm(head_dim, eps=LAYER_NORM_EPS) if kernel_kv else None
        self.pool_v = _depthwise_pool(head_dim, kernel_kv, spec.stride_kv) if kernel_kv else None
        self.norm_v = nn.LayerNorm(head_dim, eps=LAYER_NORM_EPS) if kernel_kv else None
        self.rel_pos_spatial = cfg.rel_pos_spatial
        self.rel_pos_temporal = cfg.rel_pos_temporal
        if cfg.rel_pos_spatial:
            t, size, size_w = spec.input_size
            if size != size_w:
                raise ModelError("MViT relative positions need a square crop (TRAIN_CROP_SIZE).")
            q_size = size // spec.stride_q[1] if spec.stride_q else size
            kv_size = size // spec.stride_kv[1] if spec.stride_kv else size
            rel_dim = 2 * max(q_size, kv_size) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(rel_dim, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(rel_dim, head_dim))
        if cfg.rel_pos_temporal:
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * spec.input_size[0] - 1, head_dim))

    def forward(
        self, x: torch.Tensor, thw: Sequence[int], on_chunk: Callable[[], None] | None = None
    ) -> tuple[torch.Tensor, list[int]]:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, q_thw = pool_tokens(q, self.pool_q, thw, self.cls_offset, self.norm_q)
        k, k_thw = pool_tokens(k, self.pool_k, thw, self.cls_offset, self.norm_k)
        v, _ = pool_tokens(v, self.pool_v, thw, self.cls_offset, self.norm_v)

        rel_h = rel_w = rel_t = None
        if self.rel_pos_spatial:
            rel_h, rel_w = rel_pos_spatial_terms(q, self.cls_offset, q_thw, k_thw, self.rel_pos_h, self.rel_pos_w)
        if self.rel_pos_temporal:
            rel_t = rel_pos_temporal_terms(q, self.cls_offset, q_thw, k_thw, self.rel_pos_t)
        x = chunked_attention(
            q, k, v, self.scale, self.cls_offset, k_thw, rel_h, rel_w, rel_t, self.chunk_bytes, on_chunk
        )
        if self.residual_pooling:
            # Residual pooling adds the pooled (and normed) query, except for the cls token.
            x[:, :, self.cls_offset :, :] += q[:, :, self.cls_offset :, :]
        x = x.transpose(1, 2).reshape(b, -1, self.dim_out)
        return self.proj(x), q_thw


class MultiScaleBlock(nn.Module):
    def __init__(self, spec: BlockSpec, cfg: MViTConfig):
        super().__init__()
        self.dim, self.dim_out = spec.dim, spec.dim_out
        self.dim_mul_in_att = cfg.dim_mul_in_att
        self.cls_offset = 1 if cfg.cls_embed else 0
        att_dim = spec.dim_out if cfg.dim_mul_in_att else spec.dim
        self.norm1 = nn.LayerNorm(spec.dim, eps=LAYER_NORM_EPS)
        self.attn = MultiScaleAttention(spec.dim, att_dim, spec, cfg)
        self.norm2 = nn.LayerNorm(att_dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(att_dim, int(att_dim * cfg.mlp_ratio), spec.dim_out)
        if spec.dim != spec.dim_out:
            self.proj = nn.Linear(spec.dim, spec.dim_out)
        stride = spec.stride_q
        self.pool_skip = (
            nn.MaxPool3d(
                tuple(s + 1 if s > 1 else s for s in stride),
                tuple(stride),
                tuple((s + 1 if s > 1 else s) // 2 for s in stride),
            )
            if stride and math.prod(stride) > 1
            else None
        )

    def forward(
        self, x: torch.Tensor, thw: Sequence[int], on_chunk: Callable[[], None] | None = None
    ) -> tuple[torch.Tensor, list[int]]:
        x_norm = self.norm1(x)
        x_block, thw_new = self.attn(x_norm, thw, on_chunk)
        if self.dim_mul_in_att and self.dim != self.dim_out:
            x = self.proj(x_norm)
        x_res, _ = pool_tokens(x, self.pool_skip, thw, self.cls_offset)
        x = x_res + x_block
        x_norm = self.norm2(x)
        x_mlp = self.mlp(x_norm)
        if not self.dim_mul_in_att and self.dim != self.dim_out:
            x = self.proj(x_norm)
        return x + x_mlp, thw_new


class RoIHead(nn.Module):
    """The fork's ResNetRoIHead for one pathway: temporal average, RoIAlign, spatial max, linear, activation."""

    def __init__(self, dim: int, cfg: MViTConfig):
        super().__init__()
        self.temporal_size = cfg.num_frames // cfg.patch_stride[0]
        self.resolution = cfg.roi_resolution
        self.spatial_scale = 1.0 / cfg.spatial_scale_factor
        self.aligned = cfg.roi_aligned
        self.act = cfg.head_act
        self.projection = nn.Linear(dim, cfg.num_classes)

    def forward(self, fmap: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if fmap.shape[2] != self.temporal_size:
            raise ModelError(
                f"MViT head expects {self.temporal_size} temporal tokens (DATA.NUM_FRAMES / patch stride), got "
                f"{fmap.shape[2]}: the clip must have exactly DATA.NUM_FRAMES frames."
            )
        pooled = F.avg_pool3d(fmap, (self.temporal_size, 1, 1), stride=1).squeeze(2)
        rois = roi_align(
            pooled,
            boxes.to(pooled.dtype),
            output_size=(self.resolution, self.resolution),
            spatial_scale=self.spatial_scale,
            sampling_ratio=0,
            aligned=self.aligned,
        )
        feats = F.max_pool2d(rois, self.resolution, stride=1).view(rois.shape[0], -1)
        logits = self.projection(feats)
        preds = torch.sigmoid(logits) if self.act == "sigmoid" else torch.softmax(logits, dim=1)
        return preds, feats


class MViT(nn.Module):
    """MViTv2 backbone + RoI head. forward(clip (B,3,T,H,W), boxes (K,5)) -> (preds (K,C), feats (K,D))."""

    def __init__(self, cfg: MViTConfig):
        super().__init__()
        self.config = cfg
        self.patch_embed = PatchEmbed(
            cfg.in_chans, cfg.embed_dim, cfg.patch_kernel, cfg.patch_stride, cfg.patch_padding
        )
        if cfg.cls_embed:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        specs = block_specs(cfg)
        self.blocks = nn.ModuleList(MultiScaleBlock(spec, cfg) for spec in specs)
        self.feature_dim = specs[-1].dim_out if specs else cfg.embed_dim
        self.norm = nn.LayerNorm(self.feature_dim, eps=LAYER_NORM_EPS)
        self.head = RoIHead(self.feature_dim, cfg)

    def forward_features(
        self,
        clip: torch.Tensor,
        trace: dict[str, Any] | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Backbone: normalised clip (B,3,T,H,W) -> feature map (B, D, T', H/s, W/s) after the final norm.

        `on_step()` runs after every block and every attention chunk inside one: progress / cancel checks
        during a forward that takes minutes on CPU (the released model's longest stretch between two calls
        is 2.8 s on 2 CPU cores, against 15 s for its slowest block).
        """
        x, thw = self.patch_embed(clip)
        if trace is not None:
            trace["patch_tokens"] = x
        if self.config.cls_embed:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        for i, block in enumerate(self.blocks):
            x, thw = block(x, thw, on_step)
            if trace is not None:
                trace[f"block{i}_out"] = x
                trace[f"block{i}_thw"] = tuple(thw)
            if on_step is not None:
                on_step()
        x = self.norm(x)
        if self.config.cls_embed:
            x = x[:, 1:]
        b, _, c = x.shape
        return x.transpose(1, 2).reshape(b, c, thw[0], thw[1], thw[2])

    def forward(
        self, clip: torch.Tensor, boxes: torch.Tensor, trace: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """boxes: (K, 5) = (clip index in the batch, x1, y1, x2, y2) in clip pixels."""
        fmap = self.forward_features(clip, trace)
        if trace is not None:
            trace["head_in"] = fmap
        return self.head(fmap, boxes)


# ------------------------------------------------------------------------------------- build / load


def build_mvit(config: MViTConfig | Mapping[str, Any], device: str | torch.device | None = None) -> MViT:
    """An MViT from a parsed config or a PySlowFast config mapping; weights are left uninitialised on meta."""
    cfg = config if isinstance(config, MViTConfig) else mvit_config_from_dict(config)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = MViT(cfg)
    return model.eval()


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: MViT) -> dict[str, torch.Tensor]:
    """The released mvit.pyth -> this module's state_dict (the only place naming upstream keys).

    The fork saves `{'model_state': ..., 'cfg': yaml text, 'epoch', 'optimizer_state'?}` with keys equal to ours.
    Like the fork's loader, a relative-position table whose length differs is resized (linear interpolation);
    unlike it, this is logged as a warning because it means mvit.yaml and mvit.pyth disagree.
    """
    if "model_state" not in checkpoint:
        raise ModelError(
            f"{MODEL_NAME} checkpoint has no 'model_state' (found {sorted(checkpoint)[:6]}); "
            "it is not a PySlowFast .pyth file."
        )
    state = dict(checkpoint["model_state"])
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    own = model.state_dict()
    for key, value in list(state.items()):
        target = own.get(key)
        if (
            target is not None
            and ".attn.rel_pos_" in key
            and value.ndim == 2
            and value.shape[1] == target.shape[1]
            and value.shape[0] != target.shape[0]
        ):
            log.warning(
                "%s: %s has %d rows, the model built from mvit.yaml needs %d; interpolating as the fork does. "
                "mvit.yaml and mvit.pyth probably do not belong together.",
                MODEL_NAME,
                key,
                value.shape[0],
                target.shape[0],
            )
            state[key] = resize_rel_pos(value.float(), target.shape[0])
    return state


def _check_checkpoint_cfg(checkpoint: Mapping[str, Any], cfg: MViTConfig) -> None:
    """Warn where the config saved inside the checkpoint disagrees with mvit.yaml on what changes outputs."""
    text = checkpoint.get("cfg")
    if not isinstance(text, str):
        return
    try:
        saved = mvit_config_from_dict(yacs_values(yaml.safe_load(text) or {}))
    except (yaml.YAMLError, ModelError, TypeError, ValueError, KeyError) as exc:
        log.warning("%s: could not parse the config stored in the checkpoint (%s); using mvit.yaml.", MODEL_NAME, exc)
        return
    for name in ("num_frames", "sampling_rate", "crop_size", "mean", "std", "input_format", "spatial_scale_factor"):
        if getattr(saved, name) != getattr(cfg, name):
            log.warning(
                "%s: mvit.yaml has %s=%r but the checkpoint was saved with %r; using mvit.yaml.",
                MODEL_NAME,
                name,
                getattr(cfg, name),
                getattr(saved, name),
            )


def load_mvit(checkpoint: str | Path, config: str | Path | MViTConfig, device: str | torch.device = "cpu") -> MViT:
    """Build the MViT from mvit.yaml and load mvit.pyth (missing or mis-shaped keys -> ModelError naming them)."""
    cfg = config if isinstance(config, MViTConfig) else read_mvit_config(config)
    checkpoint_path = Path(checkpoint)
    checkpoint = load_torch(checkpoint_path)
    if not isinstance(checkpoint, Mapping):
        raise ModelError(f"{checkpoint_path.name} is not a PySlowFast checkpoint dict.")
    _check_checkpoint_cfg(checkpoint, cfg)
    model = build_mvit(cfg, device="meta")
    state = checkpoint_filter_fn(checkpoint, model)
    model = model.to_empty(device=device)
    assign_state_dict(model, state, model_name=MODEL_NAME)
    return model.eval()


def load_mvit_from_weights(weights_dir: str | Path, device: str | torch.device = "cpu") -> MViT:
    files = WeightFiles(Path(weights_dir))
    return load_mvit(files.mvit_checkpoint, files.mvit_config, device=device)


# ------------------------------------------------------------------------------------ random weights


def init_random_weights(model: MViT, seed: int = 0) -> None:
    """Fill every parameter with a seeded draw in the fork's init style (for tests and `make-random`)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if param.ndim == 1 and "norm" in name and name.endswith("weight"):
                value = 1.0 + 0.1 * noise
            elif name.endswith("bias"):
                value = 0.02 * noise
            elif "rel_pos" in name or name == "cls_token":
                value = 0.2 * noise
            else:
                value = noise * math.prod(param.shape[1:]) ** -0.5
            param.copy_(value)


def write_random_mvit(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Write mvit.yaml + mvit.pyth (PySlowFast container, released key layout) with random weights."""
    if profile not in PROFILES:
        raise ModelError(f"Unknown weights profile {profile!r}; use one of {sorted(PROFILES)}.")
    files = WeightFiles(Path(weights_dir))
    raw = copy.deepcopy(PROFILES[profile])
    cfg = mvit_config_from_dict(raw)
    model = build_mvit(cfg, device="cpu")
    init_random_weights(model, seed)
    files.mvit_config.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(raw, sort_keys=True)
    files.mvit_config.write_text(text)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"epoch": 1, "model_state": state, "cfg": text}, files.mvit_checkpoint)
    return [files.mvit_config, files.mvit_checkpoint]
