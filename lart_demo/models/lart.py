"""LART (Lagrangian Action Recognition with Tracking): the transformer over a person's track and its heads.

Inference only, as the LART demo runs it (lart_spec.md sections 6-9):
- each frame of a window is one 512-d token = [pose 128 | 3D joints 128 | appearance 256] (the order of the
  released weights), built by three small MLPs;
- frames without a detection and the padding after the window are replaced by the learned mask token and
  are masked as attention *keys* only (dot products set to exactly -1000, the 'zero' test masking);
- a learned positional table (position = slot inside the window), then pre-norm transformer blocks;
- heads on every output token: AVA logits (60), and the SMPL / location heads the demo uses to in-fill the
  mesh of frames without a detection.

The module keeps the released key names, so `checkpoint_filter_fn` (the one place that names
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
import yaml
from torch import nn

from lart_demo.errors import ModelError, WeightsError
from lart_demo.labels import write_label_files
from lart_demo.models.checkpoint import assign_state_dict, read_yaml_mapping
from lart_demo.models.mvit import build_mvit, read_mvit_config
from lart_demo.models.transformer import (
    Transformer,
    conv_bottleneck,
    mlp,
    pose_camera_vector,
    token_heads,
    with_mask_token,
)
from lart_demo.safe_load import LIGHTNING_CHECKPOINT, load_torch
from lart_demo.weights.files import WeightFiles

# Fixed by the reference code, not by the config: the positional table covers 250 frames x 10 people.
POS_TABLE_FRAMES = 250
POS_TABLE_PEOPLE = 10
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
    try:
        return lart_config_from_mapping(read_yaml_mapping(path, "LART config", "omegaconf"))
    except (TypeError, ValueError) as exc:  # a value of the wrong form, e.g. `depth: deep`
        raise ModelError(f"{Path(path).name} has a value of the wrong form ({exc}).") from exc


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
        return pose_camera_vector(self.global_orient, self.body_pose, self.betas, self.location)


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
            self.conv_en, self.conv_de = conv_bottleneck(dim, config.conv_pad, config.conv_stride)
        ps = config.pose_shape
        self.pose_shape_encoder = mlp(ps.dim, ps.mid_dim, ps.en_dim)
        self.smpl_head, self.loca_head, self.action_head_ava = token_heads(
            dim, config.num_smpl_heads, config.ava_classes
        )
        self.action_head_kinetics = mlp(dim, dim, dim, config.kinetics_classes)  # training only
        if config.uses_joints:
            j = config.joints_3d
            self.joint_encoder = mlp(j.dim, j.mid_dim, j.mid_dim, j.en_dim)
        if config.uses_appearance:
            a = config.appearance
            self.apperance_encoder = mlp(a.dim, a.mid_dim, a.mid_dim, a.en_dim)

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
        x = with_mask_token(x, masked, self.mask_token)
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
# Built for the released key set, never read on the demo path: may be absent from a checkpoint.
UNUSED_KEYS = ("class_token", "conv_en.*", "conv_de.*", "action_head_kinetics.*")


def read_lart_checkpoint(path: str | Path) -> Mapping[str, Any]:
    """A Lightning checkpoint, read safely (hyper-parameters as inert stand-ins)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"LART checkpoint not found: {path}. Run `python -m lart_demo weights status`.")
    ckpt = load_torch(path, LIGHTNING_CHECKPOINT)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise WeightsError(f"{path.name} has no 'state_dict': it is not a LART Lightning checkpoint.")
    return ckpt


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Released `encoder.<key>` names -> module names. The only place that names checkpoint keys.

    Other keys (the LitModule's SMPL buffers) keep their names, so the loader skips and lists them.
    `pe` is a buffer alias of the `pos_embedding` parameter; the reference loads parameters before
    buffers, so `pe` wins when both exist.
    """
    state = checkpoint.get("state_dict", checkpoint)
    mapped = {k.removeprefix(CHECKPOINT_PREFIX): v for k, v in state.items() if torch.is_tensor(v)}
    table = mapped.get("pe", mapped.get("pos_embedding"))
    if table is not None:
        mapped["pos_embedding"] = table
        mapped["pe"] = table
    return mapped


def load_lart(checkpoint: str | Path, config: str | Path | LartConfig, device: str | torch.device = "cpu") -> LART:
    """Build LART from lart_mvit.config and load lart_mvit.ckpt; returns the model in eval mode."""
    model = build_lart(config if isinstance(config, LartConfig) else read_lart_config(config))
    state = checkpoint_filter_fn(read_lart_checkpoint(checkpoint))
    assign_state_dict(model, state, model_name="LART", unused=UNUSED_KEYS)
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
            head.init_body_pose.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]).repeat(head.num_joints)[None])
            head.init_betas.zero_()
            head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
            for layer in (head.decpose, head.decshape, head.deccam):
                layer.weight.mul_(0.01)
                layer.bias.zero_()


def write_random_lart(
    weights_dir: Path, profile: str = "tiny", seed: int = 0, appearance_dim: int | None = None
) -> list[Path]:
    """lart_mvit.config + lart_mvit.ckpt (Lightning layout) + the AVA label files, with random weights.

    `appearance_dim` must equal the MViT feature width of the same weights folder; by default it is
    the width of the MViT whose mvit.yaml is already there, else 1152 (MViT-L).
    """
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
    return int(build_mvit(read_mvit_config(files.mvit_config), device="meta").feature_dim)
