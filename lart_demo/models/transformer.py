"""The `lart_transformer` building blocks shared by LART and PHALP's pose transformer v2.

Upstream, LART's encoder and PHALP's Pose_transformer_v2 are built from the same design: pre-norm
transformer blocks whose attention masks *keys* (frames without a detection, padding) by setting their
scores to exactly -1000, a learned mask token that replaces those frames, a conv bottleneck, small ReLU
MLP encoders, and the same heads on every token (PHALP's SMPL head, a 3D location MLP, AVA logits).
Module and attribute names are the released state-dict names (`layers.<i>.0.fn.to_qkv`, `net.0`, ...).
`PreNorm` and `FeedForward` also serve HMR2's cross-attention decoder (4D-Humans builds it from the same
blocks).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lart_demo.models.smpl_head import SMPL_BODY_JOINTS, IEFSMPLHead

MASKED_KEY_SCORE = -1000.0  # the value masked attention scores are SET to (not added), as upstream


def mlp(*widths: int) -> nn.Sequential:
    """Linear layers with ReLU between them (keys .0, .2, .4 like the released encoders and heads)."""
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

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.fn(self.norm(x), *args, **kwargs)


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention whose masked *keys* get the score -1000 after scaling (queries stay)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        # upstream projects out unless there is one head as wide as the model (then: no `to_out` keys);
        # its dropout after the projection is the identity at inference, so only key `to_out.0` exists
        project_out = not (heads == 1 and dim_head == dim)
        self.to_out = nn.Sequential(nn.Linear(inner, dim)) if project_out else nn.Identity()

    def forward(self, x: torch.Tensor, masked_keys: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, dim); masked_keys (B, N) bool, True = this token is never attended to."""
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, dim=-1))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if masked_keys is not None:
            scores = scores.masked_fill(masked_keys[:, None, None, :], MASKED_KEY_SCORE)
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        # keys net.0 / net.3: upstream has dropouts at 2 and 4 (identity at inference)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    """`depth` pre-norm blocks (attention, feed-forward), residual; no final norm."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PreNorm(dim, MaskedSelfAttention(dim, heads, dim_head)), PreNorm(dim, FeedForward(dim, mlp_dim))]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, masked_keys: torch.Tensor | None = None) -> torch.Tensor:
        for attention, feed_forward in self.layers:  # type: ignore[misc]
            x = x + attention(x, masked_keys)
            x = x + feed_forward(x)
        return x


def with_mask_token(x: torch.Tensor, masked: torch.Tensor, mask_token: torch.Tensor) -> torch.Tensor:
    """Tokens (B, T, D) with every masked slot (B, T) replaced as a whole by the learned mask token (D,)."""
    return torch.where(masked[..., None], mask_token.to(x.dtype), x)


def conv_bottleneck(dim: int, pad: int, stride: int) -> tuple[nn.Conv1d, nn.ConvTranspose1d]:
    """The temporal conv encoder/decoder pair (`conv_en`, `conv_de`): kernel = stride + 2 * pad."""
    kernel = stride + 2 * pad
    encoder = nn.Conv1d(dim, dim, kernel, stride=stride, padding=pad)
    decoder = nn.ConvTranspose1d(dim, dim, kernel, stride=stride, padding=pad)
    return encoder, decoder


def token_heads(
    dim: int, count: int, ava_classes: int, num_body_joints: int = SMPL_BODY_JOINTS
) -> tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList]:
    """`count` sets of the per-token heads: (smpl_head, loca_head, action_head_ava), in upstream's build order.

    smpl_head: PHALP's SMPL head; loca_head: MLP dim-dim-dim-3 -> (tx, ty, tz/200); action_head_ava: AVA logits.
    """
    smpl_head = nn.ModuleList(IEFSMPLHead(dim, num_body_joints) for _ in range(count))
    loca_head = nn.ModuleList(mlp(dim, dim, dim, 3) for _ in range(count))
    action_head_ava = nn.ModuleList(mlp(dim, ava_classes) for _ in range(count))
    return smpl_head, loca_head, action_head_ava


def pose_camera_vector(
    global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor, location: torch.Tensor
) -> torch.Tensor:
    """(N, 229) = [global_orient 9 | body_pose 207 | betas 10 | location 3]: PHALP's pose vector layout."""
    n = betas.shape[0]
    return torch.cat([global_orient.reshape(n, -1), body_pose.reshape(n, -1), betas, location], dim=1)
