"""LART (Lagrangian Action Recognition with Tracking): the transformer over a person's track and its heads.

Inference only, as the LART demo runs it (lart_spec.md sections 6-9):
- each frame of a window is one 512-d token = [pose 128 | 3D joints 128 | appearance 256] (the order of the
  released weights), built by three small MLPs;
- frames without a detection and the padding after the window are replaced by the learned mask token and
  are masked as attention *keys* only (dot products set to exactly -1000, the 'zero' test masking);
- a learned positional table (position = slot inside the window), then pre-norm transformer blocks;
- heads on every output token: AVA logits (60), and the SMPL / location heads the demo uses to in-fill the
  mesh of frames without a detection.

The module keeps the released key names, so `_checkpoint_to_module_keys` (the one place that names
checkpoint keys) only strips the `encoder.` prefix and resolves the `pe` / `pos_embedding` alias.
The class token, the Kinetics head and the conv bottleneck are built (they are in the checkpoint and in
the schema) but the demo path never uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..errors import ModelError, WeightsError
from ..weight_files import WeightFiles
from .checkpoint import assign_state_dict, torch_load_safe

# Fixed by the reference code, not by the config: the positional table covers 250 frames x 10 people.
POS_TABLE_FRAMES = 250
POS_TABLE_PEOPLE = 10
SMPL_BODY_JOINTS = 23  # the SMPL head predicts 24 rotations (global + 23) in the 6D representation
SMPL_HEAD_HIDDEN = 1024
SMPL_HEAD_ITERATIONS = 3
MASKED_KEY_SCORE = -1000.0  # the value masked attention scores are SET to (not added)
FEATURE_POSE = "pose_shape"
FEATURE_JOINTS = "joints_3D"
FEATURE_APPEARANCE = "apperance"  # sic: the released config and keys spell it this way


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDims:
    dim: int  # input width
    mid_dim: int  # hidden width of the encoder MLP
    en_dim: int  # width of this feature's part of the token


@dataclass(frozen=True)
class LartConfig:
    """The `configs:` values the encoder and the demo wrapper read (defaults: lart_spec.md section 8)."""

    frame_length: int = 125
    in_feat: int = 512
    num_smpl_heads: int = 1
    mask_type_test: str = "zero"
    features: tuple[str, ...] = (FEATURE_JOINTS, FEATURE_APPEARANCE)  # besides the pose, always present
    pose_shape: FeatureDims = field(default_factory=lambda: FeatureDims(229, 229, 128))
    joints_3d: FeatureDims = field(default_factory=lambda: FeatureDims(135, 256, 128))
    appearance: FeatureDims = field(default_factory=lambda: FeatureDims(1152, 512, 256))
    depth: int = 16
    heads: int = 16
    dim_head: int = 64
    mlp_dim: int = 512
    conv_pad: int | None = 1  # None: the config has no conv bottleneck
    conv_stride: int | None = 5
    ava_classes: int = 60
    kinetics_classes: int = 400

    @property
    def uses_joints(self) -> bool:
        return FEATURE_JOINTS in self.features

    @property
    def uses_appearance(self) -> bool:
        return FEATURE_APPEARANCE in self.features

    def validate(self) -> None:
        token = self.pose_shape.en_dim
        token += self.joints_3d.en_dim if self.uses_joints else 0
        token += self.appearance.en_dim if self.uses_appearance else 0
        problems = []
        if token != self.in_feat:
            problems.append(f"the token parts add up to {token}, not in_feat={self.in_feat}")
        if not 1 <= self.frame_length <= POS_TABLE_FRAMES:
            problems.append(f"frame_length={self.frame_length} is outside 1..{POS_TABLE_FRAMES}")
        if self.mask_type_test != "zero":
            problems.append(
                f"mask_type_test={self.mask_type_test!r}: only 'zero' is deterministic inference "
                "('random' is the training masking)"
            )
        if self.pose_shape.dim != 229 or (self.uses_joints and self.joints_3d.dim != 135):
            problems.append("pose_shape.dim must be 229 and joints_3D.dim 135 (fixed by the track layout)")
        if problems:
            raise ModelError("Unsupported LART config: " + "; ".join(problems) + ".")


def _get(node: Mapping[str, Any], dotted: str, default: Any) -> Any:
    cur: Any = node
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return default
        cur = cur[part]
    if isinstance(cur, str) and "${" in cur:
        raise ModelError(f"LART config value {dotted}={cur!r} is an unresolved interpolation; set a literal value.")
    return cur


def lart_config_from_mapping(data: Mapping[str, Any]) -> LartConfig:
    """From a parsed lart_mvit.config (root `configs:`) or from its `configs` node itself."""
    node = data.get("configs", data) if isinstance(data, Mapping) else None
    if not isinstance(node, Mapping) or "transformer" not in node:
        raise ModelError("The LART config has no `configs:` node with a `transformer` section.")
    d = LartConfig()

    def dims(name: str, default: FeatureDims) -> FeatureDims:
        return FeatureDims(
            int(_get(node, f"extra_feat.{name}.dim", default.dim)),
            int(_get(node, f"extra_feat.{name}.mid_dim", default.mid_dim)),
            int(_get(node, f"extra_feat.{name}.en_dim", default.en_dim)),
        )

    enable = str(_get(node, "extra_feat.enable", ",".join(d.features)))
    # the reference tests `"joints_3D" in enable` on the raw string; splitting gives the same answer here
    features = tuple(f for f in (FEATURE_JOINTS, FEATURE_APPEARANCE) if f in enable)
    predict_valid = bool(_get(node, "ava.predict_valid", True))
    ava_key = "ava.num_valid_action_classes" if predict_valid else "ava.num_action_classes"
    has_conv = isinstance(_get(node, "transformer.conv", None), Mapping)
    config = LartConfig(
        frame_length=int(_get(node, "frame_length", d.frame_length)),
        in_feat=int(_get(node, "in_feat", d.in_feat)),
        num_smpl_heads=int(_get(node, "num_smpl_heads", d.num_smpl_heads)),
        mask_type_test=str(_get(node, "mask_type_test", d.mask_type_test)),
        features=features,
        pose_shape=dims(FEATURE_POSE, d.pose_shape),
        joints_3d=dims(FEATURE_JOINTS, d.joints_3d),
        appearance=dims(FEATURE_APPEARANCE, d.appearance),
        depth=int(_get(node, "transformer.depth", d.depth)),
        heads=int(_get(node, "transformer.heads", d.heads)),
        dim_head=int(_get(node, "transformer.dim_head", d.dim_head)),
        mlp_dim=int(_get(node, "transformer.mlp_dim", d.mlp_dim)),
        conv_pad=int(_get(node, "transformer.conv.pad", d.conv_pad)) if has_conv else None,
        conv_stride=int(_get(node, "transformer.conv.stride", d.conv_stride)) if has_conv else None,
        ava_classes=int(_get(node, ava_key, 60 if predict_valid else 80)),
        kinetics_classes=int(_get(node, "kinetics.num_action_classes", d.kinetics_classes)),
    )
    config.validate()
    return config


def read_lart_config(path: str | Path) -> LartConfig:
    """Parse lart_mvit.config (OmegaConf-style YAML; JSON works too) into a `LartConfig`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"LART config not found: {path}. Run `python -m lart_demo weights status`.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path.name} is not a readable YAML config: {exc}") from exc
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path.name} does not hold a YAML mapping.")
    return lart_config_from_mapping(data)


def config_to_yaml_dict(config: LartConfig) -> dict[str, Any]:
    """The `configs:` document (lart.yaml layout) that `read_lart_config` reads back as `config`."""
    enable = ",".join(config.features)
    node: dict[str, Any] = {
        "frame_length": config.frame_length,
        "max_people": 5,  # the training value; the demo forces 1
        "num_smpl_heads": config.num_smpl_heads,
        "in_feat": config.in_feat,
        "mask_ratio": 0.4,
        "mask_type": "random",
        "mask_type_test": config.mask_type_test,
        "pos_embedding": "learned",
        "bottle_neck": "conv",
        "ava": {"num_action_classes": 80, "num_valid_action_classes": config.ava_classes, "predict_valid": True},
        "kinetics": {"num_action_classes": config.kinetics_classes},
        "extra_feat": {
            "enable": enable,
            FEATURE_POSE: asdict(config.pose_shape),
            FEATURE_JOINTS: asdict(config.joints_3d),
            FEATURE_APPEARANCE: asdict(config.appearance),
        },
        "transformer": {
            "depth": config.depth,
            "heads": config.heads,
            "mlp_dim": config.mlp_dim,
            "dim_head": config.dim_head,
            "dropout": 0.1,
            "emb_dropout": 0.1,
            "droppath": 0.4,
        },
    }
    if config.conv_pad is not None:
        node["transformer"]["conv"] = {"pad": config.conv_pad, "stride": config.conv_stride}
    return {"configs": node}


# --- modules ---------------------------------------------------------------------------------------


def _mlp(*widths: int) -> nn.Sequential:
    """Linear layers with ReLU between them (keys .0, .2, .4 like the released encoders)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class PreNorm(nn.Module):
    """LayerNorm then `fn` (keys `norm.*`, `fn.*`)."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        return self.fn(self.norm(x), *args)


class MaskedSelfAttention(nn.Module):
    """Multi-head attention whose masked *keys* get the score -1000 after scaling (queries stay)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))  # key to_out.0; the reference's dropout is a no-op

    def forward(self, x: torch.Tensor, masked_keys: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, dim=-1))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        scores = scores.masked_fill(masked_keys[:, None, None, :], MASKED_KEY_SCORE)
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        # keys net.0 / net.3: the reference has dropouts at 2 and 4 (identity in eval)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PreNorm(dim, MaskedSelfAttention(dim, heads, dim_head)), PreNorm(dim, FeedForward(dim, mlp_dim))]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, masked_keys: torch.Tensor) -> torch.Tensor:
        for attention, feed_forward in self.layers:  # type: ignore[misc]
            x = x + attention(x, masked_keys)
            x = x + feed_forward(x)
        return x


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(N, 6) -> (N, 3, 3): Gram-Schmidt on a1 = x[0:3], a2 = x[3:6]; the result's columns are b1, b2, b3."""
    a1, a2 = x[:, 0:3], x[:, 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


class SMPLHead(nn.Module):
    """Iterative (3 steps, residual) regressor of SMPL pose (6D), betas and a camera from one token."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        npose = 6 * (SMPL_BODY_JOINTS + 1)
        self.fc1 = nn.Linear(in_dim + npose + 13, SMPL_HEAD_HIDDEN)
        self.fc2 = nn.Linear(SMPL_HEAD_HIDDEN, SMPL_HEAD_HIDDEN)
        self.decpose = nn.Linear(SMPL_HEAD_HIDDEN, npose)
        self.decshape = nn.Linear(SMPL_HEAD_HIDDEN, 10)
        self.deccam = nn.Linear(SMPL_HEAD_HIDDEN, 3)
        # starting point of the iterations (the SMPL mean pose/shape); stored in the checkpoint
        self.register_buffer("init_body_pose", torch.zeros(1, npose))
        self.register_buffer("init_betas", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        pose = self.init_body_pose.expand(n, -1)
        betas = self.init_betas.expand(n, -1)
        cam = self.init_cam.expand(n, -1)
        for _ in range(SMPL_HEAD_ITERATIONS):
            h = F.relu(self.fc2(F.relu(self.fc1(torch.cat([x, pose, betas, cam], dim=1)))))
            pose = self.decpose(h) + pose
            betas = self.decshape(h) + betas
            cam = self.deccam(h) + cam
        rotmats = rot6d_to_rotmat(pose.reshape(-1, 6)).reshape(n, SMPL_BODY_JOINTS + 1, 3, 3)
        return {"global_orient": rotmats[:, :1], "body_pose": rotmats[:, 1:], "betas": betas}


@dataclass
class LartReadout:
    """Per-token outputs of the heads."""

    ava_logits: torch.Tensor  # (N, 60)
    global_orient: torch.Tensor  # (N, 1, 3, 3)
    body_pose: torch.Tensor  # (N, 23, 3, 3)
    betas: torch.Tensor  # (N, 10)
    location: torch.Tensor  # (N, 3): (tx, ty, tz/200)

    @property
    def pose_camera(self) -> torch.Tensor:
        """(N, 229) = [global_orient 9 | body_pose 207 | betas 10 | location 3], the reference's layout."""
        n = self.betas.shape[0]
        return torch.cat(
            [self.global_orient.reshape(n, 9), self.body_pose.reshape(n, 207), self.betas, self.location], dim=1
        )


class LART(nn.Module):
    """The LART encoder with its heads (the released `encoder.*` module)."""

    def __init__(self, config: LartConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        dim = config.in_feat
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))  # unused by the demo: prepended, then dropped
        self.pos_embedding = nn.Parameter(torch.zeros(dim, POS_TABLE_FRAMES, POS_TABLE_PEOPLE))
        # the reference registers the same tensor again as buffer 'pe'; kept so the key set is the released one
        self.register_buffer("pe", self.pos_embedding)
        self.transformer = Transformer(dim, config.depth, config.heads, config.dim_head, config.mlp_dim)
        if config.conv_pad is not None and config.conv_stride is not None:  # training-only bottleneck
            kernel = config.conv_stride + 2 * config.conv_pad
            self.conv_en = nn.Conv1d(dim, dim, kernel, stride=config.conv_stride, padding=config.conv_pad)
            self.conv_de = nn.ConvTranspose1d(dim, dim, kernel, stride=config.conv_stride, padding=config.conv_pad)
        ps = config.pose_shape
        self.pose_shape_encoder = _mlp(ps.dim, ps.mid_dim, ps.en_dim)
        self.smpl_head = nn.ModuleList(SMPLHead(dim) for _ in range(config.num_smpl_heads))
        self.loca_head = nn.ModuleList(_mlp(dim, dim, dim, 3) for _ in range(config.num_smpl_heads))
        self.action_head_ava = nn.ModuleList(_mlp(dim, config.ava_classes) for _ in range(config.num_smpl_heads))
        self.action_head_kinetics = _mlp(dim, dim, dim, config.kinetics_classes)  # training only
        if config.uses_joints:
            j = config.joints_3d
            self.joint_encoder = _mlp(j.dim, j.mid_dim, j.mid_dim, j.en_dim)
        if config.uses_appearance:
            a = config.appearance
            self.apperance_encoder = _mlp(a.dim, a.mid_dim, a.mid_dim, a.en_dim)

    def encode(
        self,
        pose_shape: torch.Tensor,
        masked: torch.Tensor,
        joints_3d: torch.Tensor | None = None,
        appearance: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tokens `(B, F, in_feat)` for windows of `F = frame_length` slots (one person per window).

        pose_shape (B,F,229) normalised; joints_3d (B,F,135); appearance (B,F,D); masked (B,F) bool = frame
        without detection or padding. The class token the reference prepends is not returned.
        """
        cfg = self.config
        parts = [self.pose_shape_encoder(pose_shape)]
        if cfg.uses_joints:
            if joints_3d is None:
                raise ModelError("This LART config uses 3D joints, but none were given.")
            parts.append(self.joint_encoder(joints_3d))
        if cfg.uses_appearance:
            if appearance is None:
                raise ModelError("This LART config uses appearance features, but none were given.")
            parts.append(self.apperance_encoder(appearance))
        x = torch.cat(parts, dim=-1)
        frames = x.shape[1]
        if frames != cfg.frame_length:
            raise ModelError(f"LART windows must have frame_length={cfg.frame_length} slots, got {frames}.")
        # masked tokens are replaced as a whole before the positional embedding, as in the reference
        x = torch.where(masked[..., None], self.mask_token.to(x.dtype), x)
        x = x + self.pos_embedding[:, :frames, 0].t()
        return self.transformer(x, masked)

    def readout(self, tokens: torch.Tensor) -> LartReadout:
        """Heads on tokens `(N, in_feat)` (the demo uses head 0 of each list)."""
        smpl = self.smpl_head[0](tokens)
        return LartReadout(
            ava_logits=self.action_head_ava[0](tokens),
            global_orient=smpl["global_orient"],
            body_pose=smpl["body_pose"],
            betas=smpl["betas"],
            location=self.loca_head[0](tokens),
        )


def build_lart(config: LartConfig | Mapping[str, Any]) -> LART:
    """LART from a `LartConfig` or a parsed lart_mvit.config mapping (root `configs:`)."""
    if not isinstance(config, LartConfig):
        config = lart_config_from_mapping(config)
    return LART(config)


# --- checkpoint --------------------------------------------------------------------------------------

CHECKPOINT_PREFIX = "encoder."
# Built for the released key set, not used on the demo path: may be absent from a checkpoint.
UNUSED_PREFIXES = ("class_token", "conv_en.", "conv_de.", "action_head_kinetics.")
# Anything the Lightning checkpoint pickles besides tensors (hyper-parameters as OmegaConf objects,
# callback and loop states) is read into an inert stand-in: never constructed, never used.
_INERT_GLOBAL_PREFIXES = (
    "omegaconf.",
    "typing.",
    "builtins.",
    "collections.",
    "pathlib.",
    "lightning.",
    "lightning_fabric.",
    "pytorch_lightning.",
    "lart.",
    "phalp.",
    "hydra.",
    "numpy.",
    "enum.",
)


class InertPickledObject:
    """Stand-in for a non-tensor object in a checkpoint: records what was stored, runs nothing.

    The unpickler may create it without calling `__init__` (NEWOBJ), so every recorder is created lazily.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("elements", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("elements", []).extend(values)


def _inert_globals(path: Path) -> list[tuple[type, str]]:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is not a torch checkpoint
        raise WeightsError(
            f"Could not read {path.name}: {exc}. Delete it and run `python -m lart_demo weights download`."
        ) from exc
    refused = [n for n in names if not n.startswith(_INERT_GLOBAL_PREFIXES)]
    if refused:
        raise WeightsError(
            f"{path.name} pickles objects that are not allowed in a checkpoint: {', '.join(sorted(refused)[:5])}. "
            "It is not the released lart_mvit.ckpt; delete it and run `python -m lart_demo weights download`."
        )
    return [(InertPickledObject, n) for n in names]


def read_lart_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of a Lightning checkpoint, loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"LART checkpoint not found: {path}. Run `python -m lart_demo weights status`.")
    ckpt = torch_load_safe(path, safe_globals=_inert_globals(path))
    state = ckpt.get("state_dict") if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path.name} has no 'state_dict': it is not a LART Lightning checkpoint.")
    return {k: v for k, v in state.items() if torch.is_tensor(v)}


def _checkpoint_to_module_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Released `encoder.<key>` names -> module names. The only place that names checkpoint keys.

    Non-encoder keys (the LitModule's SMPL buffers) are dropped on purpose. `pe` is a buffer alias of the
    `pos_embedding` parameter; the reference loads parameters before buffers, so `pe` wins when both exist.
    """
    mapped = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in state.items() if k.startswith(CHECKPOINT_PREFIX)}
    table = mapped.get("pe", mapped.get("pos_embedding"))
    if table is not None:
        mapped["pos_embedding"] = table
        mapped["pe"] = table
    return mapped


def load_lart_state(model: LART, state: Mapping[str, torch.Tensor]) -> None:
    """Strict on every key the demo uses; unused training-only modules may be missing."""
    mapped = _checkpoint_to_module_keys(state)
    own = model.state_dict(keep_vars=True)
    optional = [k for k in own if k.startswith(UNUSED_PREFIXES)]
    assign_state_dict(model, mapped, model_name="LART", ignore_prefixes=UNUSED_PREFIXES, optional_keys=optional)


def load_lart(ckpt_path: str | Path, config_path: str | Path, device: str | torch.device = "cpu") -> LART:
    """Build LART from lart_mvit.config and load lart_mvit.ckpt; returns the model in eval mode."""
    model = build_lart(read_lart_config(config_path))
    load_lart_state(model, read_lart_checkpoint(ckpt_path))
    return model.eval().to(device)


# --- random weights in the released layout ------------------------------------------------------------


def tiny_lart_config(appearance_dim: int = 1152) -> LartConfig:
    """Small enough to run the whole pipeline on CPU in seconds; the token layout stays pose|joints|appearance."""
    return LartConfig(
        in_feat=64,
        pose_shape=FeatureDims(229, 32, 16),
        joints_3d=FeatureDims(135, 32, 16),
        appearance=FeatureDims(appearance_dim, 32, 32),
        depth=1,
        heads=2,
        dim_head=8,
        mlp_dim=32,
        conv_pad=0,
        conv_stride=1,
        kinetics_classes=4,
    )


def randomise_weights(model: LART, seed: int) -> None:
    """Seeded random weights of a sensible scale (1/sqrt(fan-in)); for tests and `weights make-random`."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            fan_in = param.shape[-1] if param.ndim > 1 else 1
            param.copy_(torch.randn(param.shape, generator=gen) / float(np.sqrt(fan_in)))
            if name.endswith("norm.weight"):
                param.add_(1.0)
        for head in model.smpl_head:
            # an SMPL mean-like start (identity rotations, zero shape, a plausible camera) and small updates,
            # so in-filled meshes of random weights still look like people
            head.init_body_pose.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]).repeat(SMPL_BODY_JOINTS + 1)[None])
            head.init_betas.zero_()
            head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
            for layer in (head.decpose, head.decshape, head.deccam):
                layer.weight.mul_(0.01)
                layer.bias.zero_()


def write_random_weights(
    weights_dir: Path, profile: str = "tiny", seed: int = 0, appearance_dim: int | None = None
) -> list[Path]:
    """lart_mvit.config + lart_mvit.ckpt (Lightning layout) + the AVA label files, with random weights.

    `appearance_dim` must equal the MViT feature width of the same weights folder; by default it is
    the width of the MViT whose mvit.yaml is already there, else 1152 (MViT-L).
    """
    from ..labels import write_label_files

    files = WeightFiles(Path(weights_dir))
    if appearance_dim is None:
        appearance_dim = _mvit_feature_dim(files) or 1152
    if profile == "tiny":
        config = tiny_lart_config(appearance_dim)
    elif profile == "full":
        config = LartConfig(appearance=FeatureDims(appearance_dim, 512, 256))
    else:
        raise ValueError(f"unknown weights profile {profile!r} (use 'tiny' or 'full')")
    model = LART(config)
    randomise_weights(model, seed)
    files.lart_config.parent.mkdir(parents=True, exist_ok=True)
    files.lart_config.write_text(yaml.safe_dump(config_to_yaml_dict(config), sort_keys=False), encoding="utf-8")
    state = {CHECKPOINT_PREFIX + k: v.detach().clone() for k, v in model.state_dict().items() if k != "pe"}
    state[CHECKPOINT_PREFIX + "pe"] = state[CHECKPOINT_PREFIX + "pos_embedding"]  # one storage, as released
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, files.lart_checkpoint)
    return [files.lart_config, files.lart_checkpoint, *write_label_files(files)]


def _mvit_feature_dim(files: WeightFiles) -> int | None:
    """The appearance width of the MViT whose config is in this folder (None when there is none).

    `weights make-random` writes the MViT before LART, so the two random models fit together.
    """
    if not files.mvit_config.is_file():
        return None
    from .mvit import build_mvit, read_mvit_config  # the MViT module owns its config format

    return int(build_mvit(read_mvit_config(files.mvit_config), device="meta").feature_dim)
