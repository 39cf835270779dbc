"""Chunked MViT attention == the materialised attention map of the fork (tiny model and a full-size block)."""

from __future__ import annotations

import pytest
import torch

from lart_demo.models.mvit import (
    RELEASED_MVIT_YAML,
    TINY_MVIT_YAML,
    MultiScaleAttention,
    block_specs,
    build_mvit,
    init_random_weights,
    mvit_config_from_dict,
    pool_tokens,
    rel_pos_index,
    resize_rel_pos,
)


def _rel_table(table: torch.Tensor, q_size: int, k_size: int) -> torch.Tensor:
    """(q_size, k_size, C): the table row of every (query, key) pair along one axis."""
    return resize_rel_pos(table, 2 * max(q_size, k_size) - 1)[rel_pos_index(q_size, k_size)]


def materialised_attention(attn: MultiScaleAttention, x: torch.Tensor, thw: list[int]) -> torch.Tensor:
    """The fork's formulation: the whole (queries x keys) score map, relative positions gathered per pair."""
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, q_thw = pool_tokens(qkv[0], attn.pool_q, thw, attn.cls_offset, attn.norm_q)
    k, k_thw = pool_tokens(qkv[1], attn.pool_k, thw, attn.cls_offset, attn.norm_k)
    v, _ = pool_tokens(qkv[2], attn.pool_v, thw, attn.cls_offset, attn.norm_v)
    scores = (q * attn.scale) @ k.transpose(-2, -1)
    c = attn.cls_offset
    qt, qh, qw = q_thw
    kt, kh, kw = k_thw
    # Grid coordinates of every body query / key token, in flattened (t, y, x) order.
    qy, qx, qtt = (
        g.reshape(-1) for g in torch.meshgrid(torch.arange(qh), torch.arange(qw), torch.arange(qt), indexing="ij")
    )
    order = torch.arange(qt * qh * qw).reshape(qh, qw, qt).permute(2, 0, 1).reshape(-1)
    qy, qx, qtt = qy[order], qx[order], qtt[order]
    ky = torch.arange(kh)[None, :, None].expand(kt, kh, kw).reshape(-1)
    kx = torch.arange(kw)[None, None, :].expand(kt, kh, kw).reshape(-1)
    ktt = torch.arange(kt)[:, None, None].expand(kt, kh, kw).reshape(-1)
    body_q = q[:, :, c:]
    body = scores[:, :, c:, c:]
    if attn.rel_pos_spatial:
        rh = _rel_table(attn.rel_pos_h, qh, kh)  # (qh, kh, C)
        rw = _rel_table(attn.rel_pos_w, qw, kw)
        per_h = torch.einsum("bhnc,nkc->bhnk", body_q, rh[qy])  # (b, heads, Nq, kh)
        per_w = torch.einsum("bhnc,nkc->bhnk", body_q, rw[qx])
        body += per_h[:, :, :, ky]
        body += per_w[:, :, :, kx]
    if attn.rel_pos_temporal:
        rt = _rel_table(attn.rel_pos_t, qt, kt)
        per_t = torch.einsum("bhnc,nkc->bhnk", body_q, rt[qtt])
        body += per_t[:, :, :, ktt]
    out = scores.softmax(dim=-1) @ v
    if attn.residual_pooling:
        out[:, :, c:] += q[:, :, c:]
    return attn.proj(out.transpose(1, 2).reshape(b, -1, attn.dim_out))


def _chunked(attn: MultiScaleAttention, x: torch.Tensor, thw: list[int], chunk_bytes: int) -> torch.Tensor:
    attn.chunk_bytes = chunk_bytes
    return attn(x, thw)[0]


def test_tiny_model_blocks_chunked_equal_materialised() -> None:
    model = build_mvit(TINY_MVIT_YAML)
    init_random_weights(model, seed=3)
    clip = torch.randn(2, 3, model.config.num_frames, 64, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x, thw = model.patch_embed(clip)
        x = torch.cat((model.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        for block in model.blocks:
            x_norm = block.norm1(x)
            expected = materialised_attention(block.attn, x_norm, thw)
            n_keys = expected.shape[1]
            # Tiny chunks (a few rows each, the first one the cls row alone) and one chunk holding everything.
            for chunk_bytes in (1, 3 * 4 * n_keys * block.attn.num_heads * 2, 1 << 40):
                torch.testing.assert_close(
                    _chunked(block.attn, x_norm, thw, chunk_bytes), expected, rtol=1e-5, atol=1e-6
                )
            x, thw = block(x, thw)


def test_tiny_model_output_does_not_depend_on_chunk_size() -> None:
    model = build_mvit(TINY_MVIT_YAML)
    init_random_weights(model, seed=4)
    clip = torch.randn(1, 3, model.config.num_frames, 64, 64, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[0, 4.0, 2.0, 40.0, 60.0]])
    outputs = []
    for chunk_bytes in (64, 1 << 40):
        for module in model.modules():
            if isinstance(module, MultiScaleAttention):
                module.chunk_bytes = chunk_bytes
        with torch.no_grad():
            outputs.append(model(clip, boxes))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def test_forward_features_reports_every_attention_chunk_and_block() -> None:
    """The hook a CPU run checks cancel with: after each chunk of query rows and after each block."""
    model = build_mvit(TINY_MVIT_YAML)
    init_random_weights(model, seed=5)
    clip = torch.randn(1, 3, model.config.num_frames, 64, 64, generator=torch.Generator().manual_seed(2))
    for module in model.modules():
        if isinstance(module, MultiScaleAttention):
            module.chunk_bytes = 4096
    chunks: list[int] = []
    for i, block in enumerate(model.blocks):

        def counted(x, thw, on_chunk=None, real=block.attn.forward, i=i):  # noqa: ANN001, ANN202
            def tick() -> None:
                chunks.append(i)
                if on_chunk is not None:
                    on_chunk()

            return real(x, thw, tick)

        block.attn.forward = counted
    steps: list[int] = []
    with torch.no_grad():
        expected = model.forward_features(clip)
        chunks.clear()
        out = model.forward_features(clip, on_step=lambda: steps.append(len(chunks)))
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert len(set(chunks)) == len(model.blocks) and len(chunks) > 2 * len(model.blocks)  # several chunks each
    assert len(steps) == len(chunks) + len(model.blocks)
    assert steps == sorted(steps) and steps[0] == 1  # the first report comes after the first chunk

    class Stop(Exception):
        pass

    def cancel() -> None:
        raise Stop

    chunks.clear()
    with pytest.raises(Stop), torch.no_grad():
        model.forward_features(clip, on_step=cancel)
    assert chunks == [0]  # stopped inside the first block


@pytest.mark.slow
def test_full_size_block_chunked_equal_materialised() -> None:
    """Block 2 of the released model (q pooled 2x2, 4 heads, 312x374 clip), with 2 instead of 20 time steps so
    that the materialised reference stays at ~60 MB."""
    cfg = mvit_config_from_dict(RELEASED_MVIT_YAML)
    spec = block_specs(cfg)[2]
    attn = MultiScaleAttention(spec.dim, spec.dim, spec, cfg).eval()
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in attn.named_parameters():
            param.copy_(
                torch.randn(param.shape, generator=gen) * (0.2 if "rel_pos" in name else param.shape[-1] ** -0.5)
            )
    thw = [2, 78, 94]
    x = torch.randn(1, 1 + thw[0] * thw[1] * thw[2], spec.dim, generator=gen)
    with torch.no_grad():
        expected = materialised_attention(attn, x, thw)
        actual = _chunked(attn, x, thw, 4 << 20)
    assert spec.num_heads == 4 and spec.stride_q == (1, 2, 2)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
