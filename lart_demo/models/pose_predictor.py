"""PHALP's pose transformer v2: forecasts a track's next 229-d pose vector from its 7-entry history.

Built from `config_40006.yaml` (root key `configs`), loaded from `pose_predictor_40006.ckpt` (a
Lightning checkpoint of the encoder, keys `encoder.<module key>`), normalised with `mean_std.npy`
(phalp_spec.md section 4.4).

`predict_next` replicates `PHALP.forward_for_tracking(..., 'P', time)`:
the history is placed on a `frame_length`-slot timeline (slot = frame - first frame), empty slots
become the mask token and are masked as attention keys, the transformer runs over every slot and
each slot is decoded to [global_orient 9 | body_pose 207 | betas 10 | location head 3] (NOT
de-normalised). Upstream then returns, for EVERY track, the decoded vector at the FIRST track's
target slot ("first-track slot" quirk, `first_track_slot_quirk=True`, the default).

Deliberate deviations (documented in README):
- Loading: upstream maps keys with `k.replace("encoder.", "")`, which also mangles
  `encoder.pose_shape_encoder.*`, so those 4 tensors are never loaded and stay randomly initialised
  (unseeded) in the original tracker. We strip only the leading `encoder.` and load every tensor.
- A history spanning more than `frame_length - 1` frames crashes upstream
  (`'int' object has no attribute 'item'`). We keep only the entries within `frame_length - 1`
  frames of the newest one (older entries are dropped; the window starts at the oldest kept entry).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from lart_demo.errors import ModelError
from lart_demo.models.checkpoint import assign_state_dict, read_yaml_mapping
from lart_demo.models.pose_normalisation import POSE_DIM, read_mean_std
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

SINUSOID_LENGTH = 10000  # length of the (unused) sinusoidal position tables in the checkpoint


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class PosePredictorConfig:
    """The `configs` section of config_40006.yaml. Defaults are the spec's assumed values."""

    frame_length: int = 125
    in_feat: int = 256
    depth: int = 16
    heads: int = 16
    dim_head: int = 64
    mlp_dim: int = 512
    conv_pad: int = 1
    conv_stride: int = 5
    pose_dim: int = POSE_DIM
    pose_mid_dim: int = 229
    pose_en_dim: int = 256
    num_smpl_heads: int = 1
    num_action_classes: int = 80
    num_valid_action_classes: int = 60
    predict_valid: bool = True
    mask_type_test: str = "zero"
    num_body_joints: int = 23  # from PHALP's SMPL config, not the yaml

    def __post_init__(self) -> None:
        if self.pose_en_dim != self.in_feat:
            raise ModelError(
                f"Pose predictor config: extra_feat.pose_shape.en_dim ({self.pose_en_dim}) must equal in_feat "
                f"({self.in_feat})."
            )
        if self.frame_length % self.conv_stride:
            raise ModelError(
                f"Pose predictor config: frame_length {self.frame_length} is not divisible by the conv stride "
                f"{self.conv_stride}."
            )
        if self.mask_type_test != "zero":
            raise ModelError(f"Pose predictor mask_type_test {self.mask_type_test!r} is not supported (only 'zero').")
        if self.pose_dim != POSE_DIM:
            raise ModelError(f"Pose predictor pose_shape.dim must be {POSE_DIM} (got {self.pose_dim}).")

    @property
    def num_actions(self) -> int:
        return self.num_valid_action_classes if self.predict_valid else self.num_action_classes

    @classmethod
    def from_configs(cls, configs: Mapping[str, Any]) -> PosePredictorConfig:
        """From the yaml's `configs` mapping (names as Pose_transformer_v2 reads them)."""
        try:
            tr = configs["transformer"]
            pose = configs["extra_feat"]["pose_shape"]
            ava = configs["ava"]
            return cls(
                frame_length=int(configs["frame_length"]),
                in_feat=int(configs["in_feat"]),
                depth=int(tr["depth"]),
                heads=int(tr["heads"]),
                dim_head=int(tr["dim_head"]),
                mlp_dim=int(tr["mlp_dim"]),
                conv_pad=int(tr["conv"]["pad"]),
                conv_stride=int(tr["conv"]["stride"]),
                pose_dim=int(pose["dim"]),
                pose_mid_dim=int(pose["mid_dim"]),
                pose_en_dim=int(pose["en_dim"]),
                num_smpl_heads=int(configs.get("num_smpl_heads", 1)),
                num_action_classes=int(ava["num_action_classes"]),
                num_valid_action_classes=int(ava["num_valid_action_classes"]),
                predict_valid=bool(ava["predict_valid"]),
                mask_type_test=str(configs.get("mask_type_test", "zero")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"Pose predictor config is missing or has a bad value for {exc}.") from exc

    def to_configs(self) -> dict[str, Any]:
        """The yaml `configs` mapping for this config (what config_40006.yaml holds)."""
        return {
            "frame_length": self.frame_length,
            "max_people": 1,
            "in_feat": self.in_feat,
            "num_smpl_heads": self.num_smpl_heads,
            "mask_type_test": self.mask_type_test,
            "mask_ratio": 0.4,
            "extra_feat": {
                "enable": "",
                "pose_shape": {"dim": self.pose_dim, "mid_dim": self.pose_mid_dim, "en_dim": self.pose_en_dim},
            },
            "transformer": {
                "depth": self.depth,
                "heads": self.heads,
                "mlp_dim": self.mlp_dim,
                "dim_head": self.dim_head,
                "dropout": 0.1,
                "emb_dropout": 0.1,
                "droppath": 0.4,
                "conv": {"pad": self.conv_pad, "stride": self.conv_stride},
            },
            "ava": {
                "num_action_classes": self.num_action_classes,
                "num_valid_action_classes": self.num_valid_action_classes,
                "predict_valid": self.predict_valid,
            },
        }


TINY_CONFIG = PosePredictorConfig(in_feat=16, depth=1, heads=2, dim_head=8, mlp_dim=32, pose_mid_dim=32, pose_en_dim=16)


def read_pose_predictor_config(path: str | Path) -> PosePredictorConfig:
    """config_40006.yaml (an OmegaConf file with root key `configs`) -> PosePredictorConfig."""
    path = Path(path)
    data = read_yaml_mapping(path, "Pose predictor config", "omegaconf")
    if not isinstance(data.get("configs"), Mapping):
        raise ModelError(f"{path.name} has no root key 'configs'; it is not PHALP's pose predictor config.")
    return PosePredictorConfig.from_configs(data["configs"])


# --------------------------------------------------------------------------------------------------
# modules (names follow the released state dict)


def sinusoid_table(dim: int, length: int) -> torch.Tensor:
    """Transformer sin/cos table (length, dim); in the checkpoint but unused by the forward pass."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class PoseSequenceEncoder(nn.Module):
    """`lart_transformer` of PHALP: pose tokens -> transformer1 -> temporal conv -> transformer2 -> heads."""

    def __init__(self, config: PosePredictorConfig) -> None:
        super().__init__()
        dim, t = config.in_feat, config.frame_length
        self.mask_token = nn.Parameter(torch.randn(dim))
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))  # prepended then dropped: no effect
        self.pos_embedding = nn.Parameter(sinusoid_table(dim, SINUSOID_LENGTH))  # unused
        self.pos_embedding_learned1 = nn.Parameter(torch.randn(1, t, dim))
        self.pos_embedding_learned2 = nn.Parameter(torch.randn(1, t, dim))
        self.register_buffer("pe", self.pos_embedding.detach().clone())  # unused
        args = (dim, config.depth, config.heads, config.dim_head, config.mlp_dim)
        self.transformer = Transformer(*args)  # built by upstream but unused in its forward
        self.transformer1 = Transformer(*args)
        self.transformer2 = Transformer(dim, 1, config.heads, config.dim_head, config.mlp_dim)
        self.conv_en, self.conv_de = conv_bottleneck(dim, config.conv_pad, config.conv_stride)
        self.pose_shape_encoder = mlp(config.pose_dim, config.pose_mid_dim, dim)
        self.smpl_head, self.loca_head, self.action_head_ava = token_heads(
            dim, config.num_smpl_heads, config.num_actions, config.num_body_joints
        )

    def forward(self, pose_normalised: torch.Tensor, has_detection: torch.Tensor) -> torch.Tensor:
        """(B, T, 229) normalised poses, (B, T) bool occupied slots -> (B, T, D) tokens ('zero' masking)."""
        empty = ~has_detection
        x = self.pose_shape_encoder(pose_normalised)
        x = with_mask_token(x, empty, self.mask_token)
        x = self.transformer1(x + self.pos_embedding_learned1, masked_keys=empty)
        x = self.conv_de(self.conv_en(x.transpose(1, 2))).transpose(1, 2)
        return self.transformer2(x + self.pos_embedding_learned2)


class PosePredictor(nn.Module):
    """Pose_transformer_v2 for tracking: `encoder` + the (mean, std) normalisation buffers."""

    def __init__(self, config: PosePredictorConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = PoseSequenceEncoder(config)
        self.register_buffer("mean", torch.zeros(1, 1, POSE_DIM))
        self.register_buffer("std", torch.ones(1, 1, POSE_DIM))

    def normalise(self, poses: torch.Tensor) -> torch.Tensor:
        return (poses - self.mean) / (self.std + 1e-10)

    def readout(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, T, D) tokens -> pose_camera (B, T, 229) and ava_action (B, T, A) from the first head set."""
        b, t, d = tokens.shape
        pose_camera = self.readout_pose_camera(tokens.reshape(b * t, d)).reshape(b, t, -1)
        return {"pose_camera": pose_camera, "ava_action": self.encoder.action_head_ava[0](tokens)}

    def readout_pose_camera(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, D) tokens -> (N, 229) pose_camera, each row from its own token only."""
        smpl = self.encoder.smpl_head[0](tokens)
        location = self.encoder.loca_head[0](tokens)
        return pose_camera_vector(smpl["global_orient"], smpl["body_pose"], smpl["betas"], location)

    def history_slots(self, en_time: np.ndarray) -> np.ndarray:
        """(B, 7) frame indices -> (B, 7) timeline slots, -1 for entries dropped from the window.

        slot = frame - first frame. Entries more than frame_length-1 frames older than the newest
        are dropped and the window starts at the oldest kept entry (upstream crashes instead).
        """
        times = np.asarray(en_time, dtype=np.int64)
        if times.ndim != 2 or times.shape[1] < 1:
            raise ModelError(f"en_time must be (tracks, history) frame indices, got shape {times.shape}.")
        if (np.diff(times, axis=1) < 0).any():
            raise ModelError("Each track's history times must be in increasing order (oldest first).")
        horizon = self.config.frame_length - 1
        keep = times >= times[:, -1:] - horizon
        first_kept = np.where(keep, times, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
        return np.where(keep, times - first_kept, -1)

    @torch.no_grad()
    def decode_history(
        self, en_pose: torch.Tensor | np.ndarray, en_time: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """Run the model over the histories: decoded outputs at every slot and the history slots."""
        out, slots = self.encode_history(en_pose, en_time)
        out.update(self.readout(out["tokens"]))
        return out, slots

    @torch.no_grad()
    def encode_history(
        self, en_pose: torch.Tensor | np.ndarray, en_time: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """The encoder's tokens (B, T, D) plus its inputs, and the history slots; no readout."""
        poses = torch.as_tensor(np.asarray(en_pose) if not torch.is_tensor(en_pose) else en_pose)
        poses = poses.to(device=self.mean.device, dtype=torch.float32)
        slots = self.history_slots(en_time.cpu().numpy() if torch.is_tensor(en_time) else en_time)
        b, h = slots.shape
        if poses.shape != (b, h, POSE_DIM):
            raise ModelError(f"en_pose must be ({b}, {h}, {POSE_DIM}), got {tuple(poses.shape)}.")
        t = self.config.frame_length
        seq = torch.zeros(b, t, POSE_DIM, device=poses.device)
        has = torch.zeros(b, t, dtype=torch.bool, device=poses.device)
        rows = torch.arange(b, device=poses.device)
        for j in range(h):  # in history order: a later entry overwrites an earlier one in the same slot
            kept = torch.from_numpy(slots[:, j] >= 0).to(poses.device)
            col = torch.from_numpy(np.maximum(slots[:, j], 0)).to(poses.device)
            seq[rows[kept], col[kept]] = poses[kept, j]
            has[rows[kept], col[kept]] = True
        normalised = self.normalise(seq)  # empty slots too: they become mask tokens in the encoder
        tokens = self.encoder(normalised, has)
        return {"tokens": tokens, "input_normalised": normalised, "has_detection": has}, slots

    @torch.no_grad()
    def predict_next(
        self,
        en_pose: torch.Tensor | np.ndarray,
        en_time: torch.Tensor | np.ndarray,
        time_to_predict: torch.Tensor | np.ndarray,
        first_track_slot_quirk: bool = True,
    ) -> torch.Tensor:
        """Forecast each track's pose `time_to_predict + 1` frames after its newest history entry.

        en_pose (B, 7, 229) history poses (oldest first), en_time (B, 7) their frame indices,
        time_to_predict (B,) each track's time_since_update. Returns (B, 229), not de-normalised.

        first_track_slot_quirk=True (upstream default): every row is read at track 0's target slot
        (row i = track i's decoded timeline at slot min(last_0 + dt_0 + 1, T-1)). False: each track
        at its own target slot.
        """
        if len(en_time) == 0:
            return torch.zeros(0, POSE_DIM, device=self.mean.device)
        encoded, slots = self.encode_history(en_pose, en_time)
        gaps = np.asarray(time_to_predict.cpu().numpy() if torch.is_tensor(time_to_predict) else time_to_predict)
        gaps = gaps.astype(np.int64).reshape(-1)
        if gaps.shape[0] != slots.shape[0]:
            raise ModelError(f"time_to_predict has {gaps.shape[0]} entries for {slots.shape[0]} tracks.")
        target = np.minimum(slots[:, -1] + gaps + 1, self.config.frame_length - 1)
        if first_track_slot_quirk:
            target = np.full_like(target, target[0])
        tokens = encoded["tokens"]
        # The heads act on each token alone, so reading out only the target slots (B of B*T) gives
        # the same function; the full decode costs most of the tracker's per-frame time.
        rows = torch.arange(len(target), device=tokens.device)
        return self.readout_pose_camera(tokens[rows, torch.from_numpy(target).to(tokens.device)])


def build_pose_predictor(config: PosePredictorConfig | Mapping[str, Any] | None = None) -> PosePredictor:
    """A pose predictor with random weights (eval mode). A mapping is the yaml's `configs` section."""
    if config is None:
        config = PosePredictorConfig()
    elif not isinstance(config, PosePredictorConfig):
        config = PosePredictorConfig.from_configs(config)
    return PosePredictor(config).eval()


# --------------------------------------------------------------------------------------------------
# files


_PREFIX = "encoder."
# built because the released file has them (the schema matches upstream), never read by the forward
UNUSED_KEYS = ("class_token", "pos_embedding", "pe", "transformer.*")


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The ONE place naming upstream keys: checkpoint -> `PoseSequenceEncoder` state dict.

    Layouts: a Lightning checkpoint (`{'state_dict': ...}`) or a bare state dict, keys `encoder.<key>`
    (the released layout) or bare `<key>`. Only the LEADING 'encoder.' is removed (upstream's replace()
    also hits 'pose_shape_encoder.' and silently drops those 4 tensors). Two entries mapping onto one
    name: the later one wins, as in upstream's dict. Anything else (the whole module's `mean`, `std`,
    `smpl.*`) stays under its own name and is skipped by the loader.
    """
    sd = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(sd, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
        raise ModelError(
            "The pose predictor checkpoint holds neither a 'state_dict' nor a plain tensor dict; "
            "it is not pose_predictor_40006.ckpt. Re-download it."
        )
    return {key.removeprefix(_PREFIX): value for key, value in sd.items()}


def load_lightning_checkpoint(path: str | Path) -> Any:
    """torch.load(weights_only=True) of a Lightning checkpoint whose hyper-parameters pickle config
    objects (Lightning AttributeDict, OmegaConf DictConfig): those classes load as inert stand-ins.
    Any other non-tensor global is refused."""
    return load_torch(path, LIGHTNING_CHECKPOINT)


def load_pose_predictor(
    checkpoint: str | Path,
    config: str | Path | PosePredictorConfig,
    device: str | torch.device = "cpu",
    *,
    mean_std: str | Path,
) -> PosePredictor:
    """Build from config_40006.yaml, load the checkpoint, normalise with mean_std.npy."""
    cfg = config if isinstance(config, PosePredictorConfig) else read_pose_predictor_config(config)
    model = build_pose_predictor(cfg)
    sd = checkpoint_filter_fn(load_lightning_checkpoint(checkpoint))
    assign_state_dict(model.encoder, sd, model_name="pose predictor", unused=UNUSED_KEYS)
    norm = read_mean_std(mean_std)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(norm.mean).reshape(1, 1, -1))
        model.std.copy_(torch.from_numpy(norm.std).reshape(1, 1, -1))
    return model.requires_grad_(False).to(device).eval()


# --------------------------------------------------------------------------------------------------
# random weights in the released layout


def write_random_pose_predictor(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Write pose_predictor_40006.ckpt, config_40006.yaml and mean_std.npy with random values."""
    if profile not in ("tiny", "full"):
        raise ModelError(f"Unknown random-weights profile {profile!r}: use 'tiny' or 'full'.")
    files = WeightFiles(Path(weights_dir))
    config = TINY_CONFIG if profile == "tiny" else PosePredictorConfig()
    torch.manual_seed(seed)
    model = PosePredictor(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in model.encoder.smpl_head:
            head.init_body_pose.copy_(torch.randn(head.init_body_pose.shape, generator=generator) * 0.1)
            head.init_betas.copy_(torch.randn(head.init_betas.shape, generator=generator) * 0.1)
            head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
    files.pose_predictor_checkpoint.parent.mkdir(parents=True, exist_ok=True)
    state = {_PREFIX + k: v.clone() for k, v in model.encoder.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, files.pose_predictor_checkpoint)
    files.pose_predictor_config.write_text(yaml.safe_dump({"configs": config.to_configs()}, sort_keys=False))
    rng = np.random.default_rng(seed)
    d = POSE_DIM - 3  # the released statistics cover the 226 pose/shape entries (assumed)
    mean_std = np.stack([rng.normal(0, 0.1, (1, d)), rng.uniform(0.5, 1.5, (1, d))])
    np.save(files.mean_std, mean_std)
    return [files.pose_predictor_checkpoint, files.pose_predictor_config, files.mean_std]
