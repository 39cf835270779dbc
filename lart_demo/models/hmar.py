"""PHALP's HMAR appearance model: person crop -> texture flow -> 4x256x256 UV map -> 4096-d code.

What the LART demo uses of HMAR (phalp_spec.md section 3.6):
- a ResNet-50 backbone (torchvision bottlenecks; the released keys match torchvision's names, so the
  only key work is the `hmar.` prefix) that sees the RGB channels only; the mask channel gates the
  last feature map ("feat" mask type), which only affects `pose_emb` and HMAR's own SMPL head;
- a texture-flow decoder of spectral-norm ResNet blocks fed by the four backbone skips;
- the UV image: the 4-channel crop bilinearly sampled at the flow (`grid_sample`);
- `process_uv_image`: rgb/5, mask -> +1/-1 (what the tracker stores as a detection's `uv`);
- the encoder half of the UV autoencoder (4096-d appearance code; the tracker re-encodes
  intersection-masked UV maps with it);
- HMAR's IEF SMPL head, computed upstream but replaced by HMR2 in the demo (kept for completeness).

`fuse_uv` is the track-side UV texture fusion of `Track.update`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from lart_demo.errors import ModelError
from lart_demo.models.checkpoint import assign_state_dict
from lart_demo.models.smpl_head import IEFSMPLHead
from lart_demo.safe_load import load_torch
from lart_demo.weights.files import WeightFiles

log = logging.getLogger(__name__)

UV_SIZE = 256
APPEARANCE_DIM = 4096
RGB_SCALE = 5.0  # process_uv_image divides the sampled (normalised) rgb by 5


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class HMARConfig:
    """Sizes of an HMAR. Defaults are the released model (hmar_v2_weights.pth)."""

    backbone_layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    # every backbone width (stem 64, bottleneck planes 64/128/256/512) is divided by this
    backbone_width_divisor: int = 1
    texture_nf: int = 8  # texture-flow decoder base width
    # UV encoder: conv1x, conv2, conv3, conv4, conv5, conv5_1 output channels (code = last * 16 * 16)
    encoder_channels: tuple[int, int, int, int, int, int] = (16, 64, 128, 256, 256, 16)
    uv_decoder: bool = True  # build the decoder half of the UV autoencoder (visualisation only)
    num_body_joints: int = 23
    smpl_head_hidden: int = 1024
    ief_iterations: int = 3

    def __post_init__(self) -> None:
        d = self.backbone_width_divisor
        if d < 1 or 64 % d:
            raise ModelError(f"HMAR backbone_width_divisor must divide 64 (got {d}).")
        if len(self.backbone_layers) != 4 or min(self.backbone_layers) < 1:
            raise ModelError(f"HMAR backbone_layers must be 4 positive block counts (got {self.backbone_layers}).")
        if len(self.encoder_channels) != 6:
            raise ModelError(f"HMAR encoder_channels needs 6 widths (got {self.encoder_channels}).")

    @property
    def stem_channels(self) -> int:
        return 64 // self.backbone_width_divisor

    @property
    def planes(self) -> tuple[int, int, int, int]:
        d = self.backbone_width_divisor
        return (64 // d, 128 // d, 256 // d, 512 // d)

    @property
    def skip_channels(self) -> tuple[int, int, int, int]:
        return tuple(p * Bottleneck.expansion for p in self.planes)  # type: ignore[return-value]

    @property
    def pose_emb_dim(self) -> int:
        return self.skip_channels[3]

    @property
    def appearance_dim(self) -> int:
        return self.encoder_channels[5] * (UV_SIZE // 16) ** 2

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> HMARConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ModelError(f"Unknown HMAR config field(s): {', '.join(sorted(unknown))}.")
        conv = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**conv)


TINY_CONFIG = HMARConfig(
    backbone_layers=(1, 1, 1, 1),
    backbone_width_divisor=16,
    texture_nf=4,
    encoder_channels=(4, 8, 8, 16, 16, 16),  # keeps the 4096-d code so every downstream shape is real
    smpl_head_hidden=64,
)


# --------------------------------------------------------------------------------------------------
# building blocks


class SpectralNormConv2d(nn.Module):
    """Conv2d with eval-mode spectral norm: W = W_orig / (u . W_mat v), from the stored u and v.

    Same state-dict names as `torch.nn.utils.spectral_norm` (weight_orig, weight_u, weight_v) and the
    same arithmetic, but never runs a power iteration (we only do inference).
    """

    def __init__(self, cin: int, cout: int, kernel: int, padding: int, bias: bool) -> None:
        super().__init__()
        self.padding = padding
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0, eps=1e-12))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel * kernel), dim=0, eps=1e-12))
        self.estimate_singular_vectors()

    @torch.no_grad()
    def estimate_singular_vectors(self, iterations: int = 20) -> None:
        """Power iteration for u, v (what training leaves in the file), so sigma ~ the top singular value.

        Only for freshly initialised weights: loaded files bring their own u and v.
        """
        if self.weight_orig.is_meta:
            return
        w_mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        u = self.weight_u
        for _ in range(iterations):
            v = F.normalize(torch.mv(w_mat.t(), u), dim=0, eps=1e-12)
            u = F.normalize(torch.mv(w_mat, v), dim=0, eps=1e-12)
        self.weight_u.copy_(u)
        self.weight_v.copy_(v)

    def weight(self) -> torch.Tensor:
        w_mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        sigma = torch.dot(self.weight_u, torch.mv(w_mat, self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class FlowResnetBlock(nn.Module):
    """Pre-activation residual block (BN -> leaky ReLU 0.2 -> spectral-norm conv), learned 1x1 shortcut."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__()
        fmid = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, fmid, 3, 1, bias=True)
        self.conv_1 = SpectralNormConv2d(fmid, fout, 3, 1, bias=True)
        self.norm_0 = nn.BatchNorm2d(fin)
        self.norm_1 = nn.BatchNorm2d(fmid)
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.conv_s = SpectralNormConv2d(fin, fout, 1, 0, bias=False)
            self.norm_s = nn.BatchNorm2d(fin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx), 0.2))
        return shortcut + dx


class FlowDecoder(nn.Module):
    """U-Net style decoder from the backbone skips (1/4 .. 1/32) to a 2-channel flow at full size."""

    def __init__(self, skip_channels: tuple[int, int, int, int], nf: int) -> None:
        super().__init__()
        c1, c2, c3, c4 = skip_channels
        self.G_middle_0 = FlowResnetBlock(c4, 8 * nf)
        self.G_middle_1 = FlowResnetBlock(8 * nf, 8 * nf)
        self.G_middle_2 = FlowResnetBlock(c3, 8 * nf)
        self.G_middle_2_1 = FlowResnetBlock(16 * nf, 8 * nf)
        self.G_middle_3 = FlowResnetBlock(c2, 8 * nf)
        self.G_middle_3_1 = FlowResnetBlock(16 * nf, 8 * nf)
        self.G_middle_4 = FlowResnetBlock(c1, 4 * nf)
        self.G_middle_4_1 = FlowResnetBlock(8 * nf, 4 * nf)
        self.up_0 = FlowResnetBlock(8 * nf, 4 * nf)
        self.up_1 = FlowResnetBlock(4 * nf, 4 * nf)
        self.up_2 = FlowResnetBlock(4 * nf, 2 * nf)
        self.up_3 = FlowResnetBlock(2 * nf, nf)
        self.conv_img = nn.Conv2d(nf, 2, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x1, x2, x3, x4 = skips
        y = self._up(self.G_middle_0(x4))
        y = torch.cat([y, self.G_middle_2(x3)], 1)
        y = self.G_middle_1(self.G_middle_2_1(y))
        y = self._up(y)
        y = torch.cat([y, self.G_middle_3(x2)], 1)
        y = self.up_0(self.G_middle_3_1(y))
        y = self._up(y)
        y = torch.cat([y, self.G_middle_4(x1)], 1)
        y = self.up_1(self.G_middle_4_1(y))
        y = self.up_2(self._up(y))
        y = self.up_3(self._up(y))
        return torch.tanh(self.conv_img(F.leaky_relu(y, 0.2)))


class TextureHead(nn.Module):
    def __init__(self, skip_channels: tuple[int, int, int, int], nf: int) -> None:
        super().__init__()
        self.decoder = FlowDecoder(skip_channels, nf)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        # upstream applies tanh twice (once in the decoder, once here); the flow lives in [-1, 1]
        return torch.tanh(self.decoder(skips))


class MaskGatedResNet(nn.Module):
    """ResNet-50 (v1.5 bottlenecks) on the RGB channels; the mask gates the last feature map.

    `conv1m` (4-channel stem) is in the released weights but unused with the "feat" mask type.
    """

    def __init__(self, config: HMARConfig) -> None:
        super().__init__()
        stem = config.stem_channels
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.conv1m = nn.Conv2d(4, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem
        for index, (planes, blocks) in enumerate(zip(config.planes, config.backbone_layers, strict=True)):
            stride = 1 if index == 0 else 2
            out = planes * Bottleneck.expansion
            downsample = None
            if stride != 1 or inplanes != out:
                downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            layer = [Bottleneck(inplanes, planes, stride, downsample)]
            layer += [Bottleneck(out, planes) for _ in range(1, blocks)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            inplanes = out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, 4, H, W) = [R, G, B, mask 0..255] -> (mask-gated last feature, [x1, x2, x3, x4])."""
        y = self.maxpool(self.relu(self.bn1(self.conv1(x[:, :3]))))
        x1 = self.layer1(y)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        gate = F.interpolate(x[:, 3:], size=tuple(x4.shape[-2:]), mode="area")
        gate = torch.where(gate > 0, torch.ones_like(gate), gate)  # upstream: gate[gate > 0] = 1
        return x4 * gate, [x1, x2, x3, x4]


class UVAutoencoder(nn.Module):
    """The UV-map autoencoder ('4c': all 4 channels). Tracking uses only `encode`."""

    def __init__(self, channels: tuple[int, int, int, int, int, int], with_decoder: bool) -> None:
        super().__init__()
        c1, c2, c3, c4, c5, c6 = channels
        self.conv1x = nn.Conv2d(4, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1)
        self.conv5 = nn.Conv2d(c4, c5, 3, padding=1)
        self.conv5_1 = nn.Conv2d(c5, c6, 3, padding=1)
        self.with_decoder = with_decoder
        if with_decoder:
            self.t_conv5_1 = nn.Conv2d(c6, c5, 3, padding=1)
            self.t_bn_5_1 = nn.BatchNorm2d(c5)
            self.t_conv5 = nn.Conv2d(c5, c4, 3, padding=1)
            self.t_bn_5 = nn.BatchNorm2d(c4)
            self.t_conv4 = nn.Conv2d(c4, c3, 3, padding=1)
            self.t_bn_4 = nn.BatchNorm2d(c3)
            self.t_conv3 = nn.Conv2d(c3, c2, 3, padding=1)
            self.t_bn_3 = nn.BatchNorm2d(c2)
            self.t_conv2 = nn.Conv2d(c2, c1, 3, padding=1)
            self.t_bn_2 = nn.BatchNorm2d(c1)
            self.t_conv1x = nn.Conv2d(c1, 4, 3, padding=1)
            self.t_bn_1x = nn.BatchNorm2d(4)
            self.t_conv1_1x = nn.Conv2d(4, 4, 3, padding=1)

    def encode(self, uv: torch.Tensor) -> torch.Tensor:
        """(B, 4, 256, 256) -> (B, C, 16, 16), non-negative."""
        # relu after the pooling: relu is monotonic, so max-then-relu is exactly relu-then-max (upstream's
        # order) on a quarter of the elements; this encoder runs once per track/detection pair per frame.
        y = F.relu(max_pool_2x2(self.conv1x(uv)))
        y = F.relu(max_pool_2x2(self.conv2(y)))
        y = F.relu(max_pool_2x2(self.conv3(y)))
        y = F.relu(max_pool_2x2(self.conv4(y)))
        return F.relu(self.conv5_1(F.relu(self.conv5(y))))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """(B, C, 16, 16) -> (B, 4, 256, 256) in [-1, 1] (visualisation of a code)."""
        if not self.with_decoder:
            raise ModelError("This HMAR was built without the UV decoder (its checkpoint has no encoding_head.t_*).")

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        y = F.relu(self.t_bn_5_1(self.t_conv5_1(code)))
        y = F.relu(self.t_bn_5(self.t_conv5(y)))
        y = up(F.relu(self.t_bn_4(self.t_conv4(y))))
        y = up(F.relu(self.t_bn_3(self.t_conv3(y))))
        y = up(F.relu(self.t_bn_2(self.t_conv2(y))))
        y = up(F.relu(self.t_bn_1x(self.t_conv1x(y))))
        return torch.tanh(self.t_conv1_1x(y))


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """`F.max_pool2d(x, 2)` (floor mode, NaN-propagating) as the max of the four strided sub-grids.

    The same values bit for bit; on CPU it is ~6x faster than max_pool2d's NCHW kernel, which was the
    largest single cost of tracking with small models.
    """
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    bottom = torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2])
    return torch.maximum(top, bottom)


# --------------------------------------------------------------------------------------------------
# UV maps


def process_uv_image(uv_image: torch.Tensor) -> torch.Tensor:
    """Sampled UV image (B, 4, H, W) -> the tracker's `uv` vector: rgb/5 and a +1/-1 visibility channel.

    Texels whose sampled mask is exactly 0 get rgb 0 and mask -1; all others mask +1.
    Pure function (upstream edits channel 3 of its input in place; `HMAR.forward` reproduces that).
    """
    visible = uv_image[:, 3:] != 0
    rgb = torch.where(visible, uv_image[:, :3] / RGB_SCALE, torch.zeros((), dtype=uv_image.dtype))
    mask = torch.where(visible, 1.0, -1.0).to(uv_image.dtype)
    return torch.cat([rgb, mask], 1)


def fuse_uv(
    old_uv: np.ndarray, new_uv: np.ndarray, conf: float, alpha: float = 0.1, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Track texture update (Track.update with 'T' in predict): blend the track's UV map with a new one.

    old_uv, new_uv: (4, H, W) uv vectors (channel 3 = +1 visible / -1 not). With a = alpha * conf**2:
    rgb = (1-a) old + a new where both are visible, the visible one where only one is, 0 elsewhere;
    mask = +1 on the union, -1 elsewhere. Computed on `device` and returned in float64, like upstream
    (float64 keeps the blend bit-equal to upstream's numpy over a track's many updates).
    """
    old = torch.as_tensor(old_uv).to(device=device, dtype=torch.float64)
    new = torch.as_tensor(new_uv).to(device=device, dtype=torch.float64)
    if old.shape != new.shape or old.ndim != 3 or old.shape[0] != 4:
        raise ValueError(f"fuse_uv needs two (4, H, W) maps, got {tuple(old.shape)} and {tuple(new.shape)}")
    a = float(alpha) * float(conf) ** 2
    vis_old = old[3] == 1
    vis_new = new[3] == 1
    # Whole-map arithmetic selected by masks (no boolean gathers/scatters), in upstream's operation order.
    blend = old[:3] * (1 - a) + new[:3] * a
    rgb = torch.where(vis_old, torch.where(vis_new, blend, old[:3]), torch.where(vis_new, new[:3], 0.0))
    mask = torch.where(vis_old | vis_new, 1.0, -1.0).to(torch.float64)[None]
    return torch.cat([rgb, mask], 0).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# the model


class HMAR(nn.Module):
    """HMAR with the module names of the released state dict (minus the SMPL body buffers)."""

    def __init__(self, config: HMARConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = MaskGatedResNet(config)
        self.texture_head = TextureHead(config.skip_channels, config.texture_nf)
        self.encoding_head = UVAutoencoder(config.encoder_channels, config.uv_decoder)
        self.smpl_head = IEFSMPLHead(
            config.pose_emb_dim, config.num_body_joints, config.smpl_head_hidden, config.ief_iterations
        )
        self.smpl_head_ready = True  # False when the loaded file had no SMPL mean parameters

    @staticmethod
    def sample_uv(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Sample all 4 crop channels at the flow: (B, 4, 256, 256) raw UV image (mask still 0..255)."""
        return F.grid_sample(x, flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=False)

    def _texture(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        gated, skips = self.backbone(x)
        flow = self.texture_head(skips)
        raw = self.sample_uv(x, flow)
        uv_vector = process_uv_image(raw)
        # upstream's process_uv_image writes the +1/-1 mask into its input (a view), so the
        # 'uv_image' HMAR returns has raw rgb samples and the +1/-1 channel
        uv_image = torch.cat([raw[:, :3], uv_vector[:, 3:]], 1)
        pose_emb = gated.amax(dim=(2, 3))
        return {"uv_image": uv_image, "uv_vector": uv_vector, "flow": flow, "pose_emb": pose_emb}

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        """Everything upstream HMAR.forward returns: uv_image, uv_vector, flow, pose_emb, pose_smpl, pred_cam."""
        out: dict[str, Any] = self._texture(x)
        if not self.smpl_head_ready:
            raise ModelError(
                "HMAR's SMPL head has no mean parameters (the checkpoint has no smplx_head.init_*); pass "
                "smpl_mean_params= to load_hmar, or use HMAR.appearance(), which does not need them."
            )
        smpl = self.smpl_head(out["pose_emb"])
        out["pose_smpl"] = {k: smpl[k] for k in ("global_orient", "body_pose", "betas")}
        out["pred_cam"] = smpl["cam"]
        return out

    @torch.no_grad()
    def appearance(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """Crops (B, 4, 256, 256) = [R, G, B normalised, mask 0..255] -> the tracker's appearance data.

        Returns uv_image, uv_vector (the detection's `uv`), flow, pose_emb and appe (B, 4096).
        HMAR's SMPL head is skipped: the demo replaces its outputs with HMR2's.
        """
        out = self._texture(crops)
        out["appe"] = self.encode_uv(out["uv_vector"])
        return out

    def encode_uv(self, uv: torch.Tensor) -> torch.Tensor:
        """UV maps (B, 4, 256, 256) -> appearance codes (B, 4096), flattened channel-major."""
        return self.encoding_head.encode(uv).flatten(1)

    def decode_uv(self, code: torch.Tensor) -> torch.Tensor:
        """Appearance codes (B, 4096) -> UV maps (B, 4, 256, 256) (needs the decoder half)."""
        side = UV_SIZE // 16
        return self.encoding_head.decode(code.reshape(code.shape[0], -1, side, side))


def build_hmar(config: HMARConfig | Mapping[str, Any] | None = None) -> HMAR:
    """An HMAR with random weights (eval mode). `None` = the released sizes."""
    if config is None:
        config = HMARConfig()
    elif not isinstance(config, HMARConfig):
        config = HMARConfig.from_dict(config)
    return HMAR(config).eval()


# --------------------------------------------------------------------------------------------------
# checkpoint


_UPSTREAM_GROUPS = ("encoding_head", "texture_head", "backbone", "smplx_head")
_SMPL_INIT_KEYS = ("smpl_head.init_body_pose", "smpl_head.init_betas", "smpl_head.init_cam")
# model keys the appearance forward never reads: the UV decoder half, the 4-channel stem and the SMPL head's
# mean parameters
UNUSED_KEYS = ("encoding_head.t_*", "backbone.conv1m.*", *_SMPL_INIT_KEYS)


def _spectral_v_from_weight(w_orig: torch.Tensor, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Old spectral-norm layout (weight_orig, weight, weight_u; no weight_v): a v with u.(W_mat v) = sigma.

    sigma = mean(W_orig / W), as PyTorch's own load hook computes it; any such v gives W = W_orig / sigma.
    """
    w_orig = w_orig.double()
    sigma = (w_orig / w.double()).mean()
    w_mat = w_orig.reshape(w_orig.shape[0], -1)
    v = torch.mv(w_mat.t(), u.double())
    return (v * sigma / torch.dot(u.double(), torch.mv(w_mat, v))).to(w.dtype)


def checkpoint_filter_fn(checkpoint: Mapping[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The ONE place naming upstream HMAR keys: hmar_v2_weights.pth -> our module's state dict.

    As HMAR.load_weights: take checkpoint['model'], keep keys containing backbone / texture_head /
    encoding_head / smplx_head, drop their first 5 characters (the 'hmar.' prefix) and rename
    smplx -> smpl; when two entries map onto one name the later one wins, as in upstream's dict.
    Spectral-norm convs saved in the old layout (weight, no weight_v) are converted.
    """
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("model"), Mapping):
        found = sorted(checkpoint)[:5] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ModelError(
            f"The HMAR checkpoint has no 'model' dict (found {found}); hmar_v2_weights.pth stores its "
            f"tensors under 'model'. Re-download the file."
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in checkpoint["model"].items():
        if not any(group in key for group in _UPSTREAM_GROUPS):
            continue  # upstream ignores everything else in the file
        if not torch.is_tensor(value):
            raise ModelError(f"HMAR checkpoint entry {key!r} is not a tensor.")
        name = key[5:].replace("smplx", "smpl")
        if name in out:
            log.info(
                "HMAR checkpoint: %r and an earlier entry both map to %r; the later one wins, as upstream.", key, name
            )
        out[name] = value
    for key in [k for k in out if k.endswith(".weight_orig")]:
        base = key[: -len("_orig")]
        if base + "_v" not in out and base in out and base + "_u" in out:
            out[base + "_v"] = _spectral_v_from_weight(out[key], out[base], out[base + "_u"])
            del out[base]
    return out


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in sd:
        raise ModelError(f"The HMAR checkpoint lacks {key!r}; it is not an hmar_v2_weights.pth-style file.")
    return tuple(sd[key].shape)


def hmar_config_from_state_dict(sd: Mapping[str, torch.Tensor]) -> HMARConfig:
    """Read the sizes of an HMAR from its (mapped) state dict, so a file describes its own model."""
    stem = _shape(sd, "backbone.conv1.weight")[0]
    if stem < 1 or 64 % stem:
        raise ModelError(f"HMAR backbone.conv1 has {stem} channels; expected a divisor of 64.")
    layers = []
    for n in range(1, 5):
        blocks = {int(k.split(".")[2]) for k in sd if k.startswith(f"backbone.layer{n}.")}
        if not blocks:
            raise ModelError(f"The HMAR checkpoint has no backbone.layer{n}.* tensors.")
        layers.append(max(blocks) + 1)
    enc = ("conv1x", "conv2", "conv3", "conv4", "conv5", "conv5_1")
    return HMARConfig(
        backbone_layers=tuple(layers),  # type: ignore[arg-type]
        backbone_width_divisor=64 // stem,
        texture_nf=_shape(sd, "texture_head.decoder.conv_img.weight")[1],
        encoder_channels=tuple(_shape(sd, f"encoding_head.{c}.weight")[0] for c in enc),  # type: ignore[arg-type]
        uv_decoder=any(k.startswith("encoding_head.t_") for k in sd),
        num_body_joints=_shape(sd, "smpl_head.decpose.weight")[0] // 6 - 1,
        smpl_head_hidden=_shape(sd, "smpl_head.fc1.weight")[0],
    )


def _load_mean_params(path: Path) -> dict[str, torch.Tensor]:
    with np.load(path, allow_pickle=False) as data:
        return {
            "smpl_head.init_body_pose": torch.from_numpy(data["pose"].astype(np.float32)).reshape(1, -1),
            "smpl_head.init_betas": torch.from_numpy(data["shape"].astype(np.float32)).reshape(1, -1),
            "smpl_head.init_cam": torch.from_numpy(data["cam"].astype(np.float32)).reshape(1, -1),
        }


def load_hmar(
    checkpoint: str | Path,
    config: HMARConfig | Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    *,
    smpl_mean_params: str | Path | None = None,
) -> HMAR:
    """Load hmar_v2_weights.pth (or a file in its layout) into an HMAR, in eval mode.

    `config=None` reads the sizes from the file (the release has no config file). Every tensor the
    appearance path uses must be present with the right shape. Not needed: the UV decoder half
    (`encoding_head.t_*`, visualisation only), the backbone's unused `conv1m`, and the SMPL head's
    mean parameters (`smplx_head.init_*`; else taken from `smpl_mean_params` when given).
    """
    sd = checkpoint_filter_fn(load_torch(checkpoint))
    if config is None:
        config = hmar_config_from_state_dict(sd)
    model = build_hmar(config)
    own = model.state_dict()
    missing_init = [k for k in _SMPL_INIT_KEYS if k not in sd]
    if missing_init and smpl_mean_params is not None:
        sd.update(_load_mean_params(Path(smpl_mean_params)))
        missing_init = []
    assign_state_dict(model, sd, model_name="HMAR", unused=UNUSED_KEYS)
    model.smpl_head_ready = not missing_init
    decoder_keys = [k for k in own if k.startswith("encoding_head.t_")]
    absent = [k for k in decoder_keys if k not in sd]
    if absent and len(absent) < len(decoder_keys):
        raise ModelError(
            f"The HMAR checkpoint has only part of the UV decoder (missing {', '.join(absent[:8])}); "
            f"the file is damaged. Re-download hmar_v2_weights.pth."
        )
    if absent:
        # a file without the decoder half: drop the randomly initialised decoder rather than keep it
        model.encoding_head = _without_decoder(model.encoding_head, model.config)
        model.config = replace(model.config, uv_decoder=False)
    return model.requires_grad_(False).to(device).eval()


def _without_decoder(head: UVAutoencoder, config: HMARConfig) -> UVAutoencoder:
    slim = UVAutoencoder(config.encoder_channels, with_decoder=False)
    slim.load_state_dict({k: v for k, v in head.state_dict().items() if not k.startswith("t_")})
    return slim


# --------------------------------------------------------------------------------------------------
# random weights in the released layout


def _random_texture(rng: np.random.Generator, n_vertices: int = 6890, n_faces: int = 13776) -> dict[str, np.ndarray]:
    """A texture.npz with the SMPL sizes: faces index vertices, ft index vt, vt in [0, 1]."""
    return {
        "smpl_faces": rng.integers(0, n_vertices, size=(n_faces, 3)).astype(np.uint32),
        "vt": rng.random((n_vertices, 2)).astype(np.float32),
        "ft": rng.integers(0, n_vertices, size=(n_faces, 3)).astype(np.int32),
    }


def _random_model(config: HMARConfig, seed: int) -> HMAR:
    """PyTorch's default initialisation (seeded), plausible BN statistics, a mean pose for the SMPL head."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HMAR(config)
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if name.endswith("running_mean") or (name.endswith(".bias") and ("bn" in name or "norm" in name)):
                    tensor.copy_(torch.randn(tensor.shape) * 0.05)
                elif name.endswith("running_var"):
                    tensor.copy_(1.0 + torch.rand(tensor.shape) * 0.2)
                elif name.endswith(".weight") and ("bn" in name or "norm" in name):
                    tensor.copy_(1.0 + torch.randn(tensor.shape) * 0.05)
            head = model.smpl_head
            identity_6d = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(head.num_joints)
            head.init_body_pose.copy_(identity_6d + torch.randn(head.init_body_pose.shape) * 0.05)
            head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
            # as in the golden fixture: a wider flow so the UV image samples person and background
            model.texture_head.decoder.conv_img.weight.mul_(3.0)
    return model.eval()


def hmar_checkpoint_from_model(model: HMAR) -> dict[str, Any]:
    """The released container for `model`: {'model': {'hmar.<key>': tensor}} with smpl_head -> smplx_head."""
    return {"model": {"hmar." + k.replace("smpl_head", "smplx_head"): v.clone() for k, v in model.state_dict().items()}}


def write_random_hmar(weights_dir: Path, profile: str = "tiny", seed: int = 0) -> list[Path]:
    """Write hmar_v2_weights.pth and texture.npz with random values at the WeightFiles paths."""
    if profile not in ("tiny", "full"):
        raise ModelError(f"Unknown random-weights profile {profile!r}: use 'tiny' or 'full'.")
    files = WeightFiles(Path(weights_dir))
    model = _random_model(TINY_CONFIG if profile == "tiny" else HMARConfig(), seed)
    files.hmar_checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(hmar_checkpoint_from_model(model), files.hmar_checkpoint)
    written = [files.hmar_checkpoint]
    if not files.texture.is_file():  # the weights manager writes one matching its random body first
        np.savez(files.texture, **_random_texture(np.random.default_rng(seed)))
        written.append(files.texture)
    return written
