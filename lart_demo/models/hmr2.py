"""HMR 2.0 (4D-Humans "HMR2.0b"): ViT-H backbone + SMPL transformer-decoder head, inference only.

Spec: ../shared/reference/hmr2_spec.md. The network is built from the `model_config.yaml` that ships
with the checkpoint (a yacs YAML). The ViT's sizes are hard-coded upstream, so the released YAML has
none; they default to ViT-H here and may be overridden by a `VIT_HARDCODED` section (used by small
test configs and the golden fixtures, which name it so).

Module names equal the released state_dict keys, so `checkpoint_filter_fn` (the one place that
names upstream keys) only takes `state_dict` out of the Lightning container. What inference does not
use (the training discriminator, the `initialized` flag, `smpl.*` buffers: SMPL comes from the
user's file) is skipped by the loader and listed in one info line.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from timm.models.vision_transformer import Block
from torch import nn

from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.checkpoint import assign_state_dict, read_yaml_mapping
from lart_demo.models.crops import CROP_SIZE
from lart_demo.models.smpl import SMPL
from lart_demo.models.smpl_head import rot6d_to_rotmat
from lart_demo.models.transformer import FeedForward, PreNorm
from lart_demo.safe_load import HMR2_CHECKPOINT, load_torch
from lart_demo.weights.files import WeightFiles

MODEL_NAME = "HMR2.0"


# ----------------------------------------------------------------------------------------------
# configuration


def released_config() -> dict[str, Any]:
    """The config of the released checkpoint (hmr2_spec.md §1.2); every absent key falls back to it."""
    return {
        "MODEL": {
            "IMAGE_SIZE": 256,
            "IMAGE_MEAN": [0.485, 0.456, 0.406],
            "IMAGE_STD": [0.229, 0.224, 0.225],
            "BBOX_SHAPE": [192, 256],
            "BACKBONE": {"TYPE": "vit", "PRETRAINED_WEIGHTS": None},
            "SMPL_HEAD": {
                "TYPE": "transformer_decoder",
                "IN_CHANNELS": 2048,
                "JOINT_REP": "6d",
                "TRANSFORMER_INPUT": "zero",
                "IEF_ITERS": 1,
                "TRANSFORMER_DECODER": {
                    "depth": 6,
                    "heads": 8,
                    "mlp_dim": 1024,
                    "dim_head": 64,
                    "dropout": 0.0,
                    "emb_dropout": 0.0,
                    "norm": "layer",
                    "context_dim": 1280,
                },
            },
        },
        "SMPL": {"GENDER": "neutral", "NUM_BODY_JOINTS": 23},
        "EXTRA": {"FOCAL_LENGTH": 5000},
    }


@dataclass(frozen=True)
class ViTConfig:
    img_size: tuple[int, int] = (256, 192)
    patch_size: int = 16
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    ratio: int = 1

    @property
    def padding(self) -> int:
        # upstream PatchEmbed: 4 + 2 * (ratio // 2 - 1), i.e. 2 for ratio 1 (shifts the patch grid)
        return 4 + 2 * (self.ratio // 2 - 1)

    @property
    def grid(self) -> tuple[int, int]:
        return (self.img_size[0] // self.patch_size) * self.ratio, (self.img_size[1] // self.patch_size) * self.ratio


@dataclass(frozen=True)
class DecoderConfig:
    dim: int = 1024
    depth: int = 6
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 1024
    context_dim: int = 1280
    token_input: str = "zero"  # 'zero' -> a 1-d zero token; 'mean_shape' -> previous [pose6d, betas, cam]
    ief_iters: int = 1


@dataclass(frozen=True)
class HMR2Config:
    vit: ViTConfig
    decoder: DecoderConfig
    image_size: int = 256
    bbox_width: int = 192
    num_body_joints: int = 23
    focal_length: float = 5000.0


def _section(config: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    node: Any = config
    for part in path.split("."):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


# What PHALP's crops (models/crops.py) feed HMR2: these config values change the computation, and the
# crops implement only the released ones, so any other value is refused by name rather than ignored.
_RELEASED_PREPROCESSING = {"IMAGE_MEAN": [0.485, 0.456, 0.406], "IMAGE_STD": [0.229, 0.224, 0.225]}


def _refuse_other_preprocessing(model: Mapping[str, Any], image_size: int) -> None:
    if image_size != CROP_SIZE:
        raise ModelError(f"HMR2 config sets MODEL.IMAGE_SIZE={image_size}; the crops are {CROP_SIZE} px as released.")
    for key, released in _RELEASED_PREPROCESSING.items():
        value = model.get(key, released)
        try:
            same = len(value) == len(released)
            same = same and all(abs(float(v) - r) < 1e-6 for v, r in zip(value, released, strict=True))
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ModelError(
                f"HMR2 config sets MODEL.{key}={value!r}; the crops are normalised with the released {released}. "
                "Use the released model_config.yaml."
            )


def hmr2_config_from_mapping(config: Mapping[str, Any]) -> HMR2Config:
    """Resolve a (partial) yacs-style config dict into the sizes the network needs."""
    model = _section(config, "MODEL")
    head = _section(config, "MODEL.SMPL_HEAD")
    dec = _section(config, "MODEL.SMPL_HEAD.TRANSFORMER_DECODER")
    vit_cfg = _section(config, "VIT_HARDCODED")
    backbone_type = _section(config, "MODEL.BACKBONE").get("TYPE", "vit")
    head_type = head.get("TYPE", "transformer_decoder")
    joint_rep = head.get("JOINT_REP", "6d")
    if backbone_type != "vit" or head_type != "transformer_decoder" or joint_rep != "6d":
        raise ModelError(
            f"HMR2 config asks for backbone '{backbone_type}', head '{head_type}', joint rep '{joint_rep}'; "
            "only the released ViT + transformer-decoder + 6D model is supported. Use the released model_config.yaml."
        )
    vit_defaults = ViTConfig()
    vit = ViTConfig(
        img_size=tuple(vit_cfg.get("img_size", vit_defaults.img_size)),  # type: ignore[arg-type]
        patch_size=int(vit_cfg.get("patch_size", vit_defaults.patch_size)),
        embed_dim=int(vit_cfg.get("embed_dim", vit_defaults.embed_dim)),
        depth=int(vit_cfg.get("depth", vit_defaults.depth)),
        num_heads=int(vit_cfg.get("num_heads", vit_defaults.num_heads)),
        mlp_ratio=float(vit_cfg.get("mlp_ratio", vit_defaults.mlp_ratio)),
        qkv_bias=bool(vit_cfg.get("qkv_bias", vit_defaults.qkv_bias)),
        ratio=int(vit_cfg.get("ratio", vit_defaults.ratio)),
    )
    d = DecoderConfig()
    decoder = DecoderConfig(
        dim=int(dec.get("dim", d.dim)),
        depth=int(dec.get("depth", d.depth)),
        heads=int(dec.get("heads", d.heads)),
        dim_head=int(dec.get("dim_head", d.dim_head)),
        mlp_dim=int(dec.get("mlp_dim", d.mlp_dim)),
        context_dim=int(dec.get("context_dim", d.context_dim)),
        token_input=str(head.get("TRANSFORMER_INPUT", d.token_input)),
        ief_iters=int(head.get("IEF_ITERS", d.ief_iters)),
    )
    if decoder.token_input not in ("zero", "mean_shape"):
        raise ModelError(f"Unknown SMPL_HEAD.TRANSFORMER_INPUT '{decoder.token_input}' in the HMR2 config.")
    image_size = int(model.get("IMAGE_SIZE", 256))
    _refuse_other_preprocessing(model, image_size)
    bbox_shape = model.get("BBOX_SHAPE") or [192, 256]
    return HMR2Config(
        vit=vit,
        decoder=decoder,
        image_size=image_size,
        bbox_width=int(bbox_shape[0]),
        num_body_joints=int(_section(config, "SMPL").get("NUM_BODY_JOINTS", 23)),
        focal_length=float(_section(config, "EXTRA").get("FOCAL_LENGTH", 5000)),
    )


def read_hmr2_config(config_path: str | Path) -> HMR2Config:
    """model_config.yaml (yacs dumps plain YAML, so safe_load reads it) -> HMR2Config."""
    return hmr2_config_from_mapping(read_yaml_mapping(config_path, "HMR2 config", "yacs"))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig, in_chans: int = 3) -> None:
        super().__init__()
        stride = cfg.patch_size // cfg.ratio
        self.proj = nn.Conv2d(in_chans, cfg.embed_dim, cfg.patch_size, stride=stride, padding=cfg.padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid  # row-major (h, w) tokens


class ViT(nn.Module):
    """ViTPose-style ViT: no cls token; the 'cls' slot of pos_embed is added to every patch token."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg)
        num_patches = cfg.grid[0] * cfg.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, cfg.embed_dim))
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, norm_layer=norm)
            for _ in range(cfg.depth)
        )
        self.last_norm = norm(cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, (h, w) = self.patch_embed(x)
        tokens = tokens + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.last_norm(tokens)
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)


# ----------------------------------------------------------------------------------------------
# SMPL head


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head softmax attention on (B, N, heads*dim_head) projections."""
    b, nq, inner = q.shape
    dh = inner // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, t.shape[1], heads, dh).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).reshape(b, nq, inner)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.to_out(_attend(q, k, v, self.heads))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, inner * 2, bias=False)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = self.to_kv(context).chunk(2, dim=-1)
        return self.to_out(_attend(self.to_q(x), k, v, self.heads))


class CrossAttnTransformer(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(cfg.dim, SelfAttention(cfg.dim, cfg.heads, cfg.dim_head)),
                    PreNorm(cfg.dim, CrossAttention(cfg.dim, cfg.context_dim, cfg.heads, cfg.dim_head)),
                    PreNorm(cfg.dim, FeedForward(cfg.dim, cfg.mlp_dim)),
                ]
            )
            for _ in range(cfg.depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, ff in self.layers:  # type: ignore[misc]
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x  # no final norm


class TokenDecoder(nn.Module):
    """Query token(s) -> embedding + positional embedding -> cross-attention transformer."""

    def __init__(self, cfg: DecoderConfig, token_dim: int) -> None:
        super().__init__()
        self.to_token_embedding = nn.Linear(token_dim, cfg.dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.transformer = CrossAttnTransformer(cfg)

    def forward(self, token: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.to_token_embedding(token) + self.pos_embedding[:, : token.shape[1]]
        return self.transformer(x, context=context)


class SMPLHead(nn.Module):
    def __init__(self, cfg: DecoderConfig, num_body_joints: int) -> None:
        super().__init__()
        self.token_input = cfg.token_input
        self.ief_iters = cfg.ief_iters
        npose = 6 * (num_body_joints + 1)
        token_dim = 1 if cfg.token_input == "zero" else npose + 10 + 3
        self.transformer = TokenDecoder(cfg, token_dim)
        self.decpose = nn.Linear(cfg.dim, npose)
        self.decshape = nn.Linear(cfg.dim, 10)
        self.deccam = nn.Linear(cfg.dim, 3)
        # mean params: checkpoint buffers (hmr2_spec.md §1.3)
        self.register_buffer("init_body_pose", torch.zeros(1, npose))
        self.register_buffer("init_betas", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        b = feats.shape[0]
        context = feats.flatten(2).transpose(1, 2)  # (B, H*W, C), row-major grid
        pose = self.init_body_pose.expand(b, -1)
        betas = self.init_betas.expand(b, -1)
        cam = self.init_cam.expand(b, -1)
        for _ in range(self.ief_iters):
            if self.token_input == "zero":
                token = feats.new_zeros(b, 1, 1)
            else:
                token = torch.cat([pose, betas, cam], dim=1)[:, None, :]
            out = self.transformer(token, context=context)[:, 0]
            pose = self.decpose(out) + pose
            betas = self.decshape(out) + betas
            cam = self.deccam(out) + cam
        rotmats = rot6d_to_rotmat(pose.reshape(b, -1, 6))
        return {
            "pred_pose_6d": pose,
            "global_orient": rotmats[:, :1],
            "body_pose": rotmats[:, 1:],
            "betas": betas,
            "pred_cam": cam,
        }


# ----------------------------------------------------------------------------------------------
# the model


def crop_cam_t(pred_cam: torch.Tensor, focal_length: float, image_size: int) -> torch.Tensor:
    """Weak-perspective (s, tx, ty) of the square crop -> translation (tx, ty, 2f/(size*s))."""
    tz = 2 * focal_length / (image_size * pred_cam[:, 0] + 1e-9)
    return torch.stack([pred_cam[:, 1], pred_cam[:, 2], tz], dim=-1)


class HMR2(nn.Module):
    def __init__(self, cfg: HMR2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = ViT(cfg.vit)
        self.smpl_head = SMPLHead(cfg.decoder, cfg.num_body_joints)

    def forward(self, img: torch.Tensor, smpl: SMPL | None = None) -> dict[str, torch.Tensor]:
        """img: (B, 3, S, S) normalised RGB crops. With `smpl`, also vertices and 44 keypoints (3D, 2D)."""
        margin = (self.cfg.image_size - self.cfg.bbox_width) // 2
        x = img[:, :, :, margin : img.shape[3] - margin] if margin > 0 else img  # the backbone sees 192 columns
        out = self.smpl_head(self.backbone(x))
        b = img.shape[0]
        out["pred_cam_t"] = crop_cam_t(out["pred_cam"], self.cfg.focal_length, self.cfg.image_size)
        out["focal_length"] = img.new_full((b, 2), self.cfg.focal_length)
        if smpl is not None:
            out.update(self.body(smpl, out))
        return out

    def body(self, smpl: SMPL, out: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """SMPL vertices and keypoints for head outputs; SMPL always runs in float32."""
        device_type = out["pred_cam"].device.type
        with torch.autocast(device_type=device_type, enabled=False):
            body = smpl(out["global_orient"].float(), out["body_pose"].float(), out["betas"].float())
            cam_t = out["pred_cam_t"].float()
            points = body.joints + cam_t[:, None, :]
            f = self.cfg.focal_length / self.cfg.image_size
            keypoints_2d = f * points[..., :2] / points[..., 2:]
        return {"pred_vertices": body.vertices, "pred_keypoints_3d": body.joints, "pred_keypoints_2d": keypoints_2d}


def build_hmr2(config: HMR2Config | Mapping[str, Any], device: str | torch.device | None = None) -> HMR2:
    """HMR2 from an HMR2Config or a yacs-style config dict; `device='meta'` builds shapes only (no memory)."""
    cfg = config if isinstance(config, HMR2Config) else hmr2_config_from_mapping(config)
    if device is None:
        return HMR2(cfg)
    with torch.device(device):
        return HMR2(cfg)


# ----------------------------------------------------------------------------------------------
# checkpoint


# The released checkpoint pickles its yacs config (`hyper_parameters.cfg`); it loads as a plain mapping
# (safe_load.HMR2_CHECKPOINT): nothing from yacs is imported or executed. Any other pickled object is refused.


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Released Lightning checkpoint -> our module keys (the names are identical; only the container differs)."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise WeightsError(
            "The HMR2.0 checkpoint has no 'state_dict': it is not the HMR2.0 Lightning checkpoint. "
            "Delete it and run `python -m lart_demo weights download`."
        )
    return {k: v for k, v in state.items() if torch.is_tensor(v)}


def read_checkpoint(checkpoint_path: str | Path) -> dict[str, Any]:
    """A Lightning HMR2 checkpoint, read safely (its pickled yacs config as a plain mapping)."""
    ckpt = load_torch(checkpoint_path, HMR2_CHECKPOINT)
    if not isinstance(ckpt, Mapping):
        raise WeightsError(
            f"{Path(checkpoint_path).name} is not the HMR2.0 Lightning checkpoint. "
            "Delete it and run `python -m lart_demo weights download`."
        )
    return dict(ckpt)


def load_hmr2(checkpoint: str | Path, config: str | Path | HMR2Config, device: str | torch.device = "cpu") -> HMR2:
    """Build HMR2 from model_config.yaml and load the released checkpoint (eval mode)."""
    cfg = config if isinstance(config, HMR2Config) else read_hmr2_config(config)
    state = checkpoint_filter_fn(read_checkpoint(checkpoint))
    model = build_hmr2(cfg, device="meta").to_empty(device=device)
    assign_state_dict(model, state, model_name=MODEL_NAME)
    return model.eval()


# ----------------------------------------------------------------------------------------------
# random weights (offline runs and tests)


def tiny_config() -> dict[str, Any]:
    """A small config with the released structure (runs on CPU in milliseconds per crop)."""
    config = released_config()
    config["MODEL"]["SMPL_HEAD"]["TRANSFORMER_DECODER"].update(
        {"depth": 2, "heads": 2, "dim_head": 16, "mlp_dim": 64, "context_dim": 32, "dim": 64}
    )
    config["VIT_HARDCODED"] = {"embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2}
    return config


_OUTPUT_LAYERS = tuple(f"{layer}.{p}" for layer in ("decpose", "decshape", "deccam") for p in ("weight", "bias"))


def _random_state_dict(model: HMR2, rng: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for key, tensor in model.state_dict().items():
        if key.endswith("init_body_pose"):
            npose = tensor.shape[1]
            identity_6d = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(npose // 6)
            value = identity_6d + 0.02 * torch.randn(npose, generator=rng)
            state[key] = value[None]
        elif key.endswith("init_cam"):
            state[key] = torch.tensor([[0.9, 0.0, 0.0]])
        elif key.endswith("init_betas"):
            state[key] = 0.1 * torch.randn(tensor.shape, generator=rng)
        elif key.endswith(_OUTPUT_LAYERS):
            # as HMR2 initialises its output layers (xavier_uniform, gain 0.01; zero bias): predictions start at
            # the mean pose and camera, so random-weight meshes land on the person's box instead of off-screen
            if tensor.ndim == 2:
                bound = 0.01 * math.sqrt(6.0 / (tensor.shape[0] + tensor.shape[1]))
                state[key] = (torch.rand(tensor.shape, generator=rng) * 2 - 1) * bound
            else:
                state[key] = torch.zeros(tensor.shape)
        elif tensor.ndim >= 2:
            fan_in = math.prod(tensor.shape[1:])
            state[key] = torch.randn(tensor.shape, generator=rng) / math.sqrt(fan_in)
        elif key.endswith(".weight") and ("norm" in key):
            state[key] = torch.ones(tensor.shape)
        else:
            state[key] = 0.02 * torch.randn(tensor.shape, generator=rng)
    return state


def write_random_hmr2(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Random HMR2 files at the WeightFiles paths, in the released formats (Lightning ckpt + yacs YAML),
    plus random SMPL_to_J19.pkl / smpl_mean_params.npz where absent. 'full' uses the released sizes (2.7 GB)."""
    if profile not in ("tiny", "full"):
        raise ModelError(f"Unknown weights profile '{profile}' (use 'tiny' or 'full').")
    files = WeightFiles(Path(weights_dir))
    config = tiny_config() if profile == "tiny" else released_config()
    rng = torch.Generator().manual_seed(seed)
    model = build_hmr2(config, device="meta")
    state = _random_state_dict(model, rng)
    state["initialized"] = torch.tensor(True)
    files.hmr2_checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"epoch": 35, "global_step": 1000000, "state_dict": state, "hyper_parameters": {"cfg": config}},
        files.hmr2_checkpoint,
    )
    files.hmr2_config.write_text(yaml.safe_dump(config, sort_keys=False))
    written = [files.hmr2_checkpoint, files.hmr2_config]
    # the weights manager writes these with its random body model first; standalone calls need them too
    nprng = np.random.default_rng(seed)
    if not files.smpl_to_j19.is_file():
        regressor = nprng.random((19, 6890)) ** 16
        regressor /= regressor.sum(axis=1, keepdims=True)
        with files.smpl_to_j19.open("wb") as fh:
            pickle.dump(regressor, fh, protocol=2)
        written.append(files.smpl_to_j19)
    if not files.smpl_mean_params.is_file():
        mean_pose = np.tile([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 24) + nprng.normal(0, 0.02, 144)
        np.savez(files.smpl_mean_params, pose=mean_pose, shape=nprng.normal(0, 0.1, 10), cam=np.array([0.9, 0.0, 0.0]))
        written.append(files.smpl_mean_params)
    return written
