"""AVA MViT: full-size schema, strict loading, config handling, batching, random weights."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import pytest
import torch
import yaml

from lart_demo.errors import ModelError
from lart_demo.models.mvit import (
    RELEASED_MVIT_YAML,
    TINY_MVIT_YAML,
    block_specs,
    build_mvit,
    load_mvit,
    mvit_config_from_dict,
    read_mvit_config,
    rel_pos_index,
    write_random_mvit,
)
from lart_demo.safe_load import load_torch
from lart_demo.weights.files import WeightFiles


def _schema(reference_dir: Path) -> dict[str, tuple[int, ...]]:
    rows = {}
    for line in (reference_dir / "mvit_schema.txt").read_text().splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        key, shape, _dtype, _numel = (part.strip() for part in line.split("|"))
        rows[key] = tuple(int(x) for x in re.findall(r"\d+", shape))
    return rows


def test_full_size_schema_matches_released_checkpoint(reference_dir: Path) -> None:
    expected = _schema(reference_dir)
    model = build_mvit(RELEASED_MVIT_YAML, device="meta")
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(expected) ^ set(actual)) == []
    wrong = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert wrong == {}
    assert model.feature_dim == 1152


def test_released_block_schedule_follows_the_spec() -> None:
    specs = block_specs(mvit_config_from_dict(RELEASED_MVIT_YAML))
    assert [i for i, s in enumerate(specs) if s.stride_q == (1, 2, 2)] == [2, 8, 44]
    assert [i for i, s in enumerate(specs) if s.dim != s.dim_out] == [1, 7, 43]
    assert {s.stride_kv for s in specs[:2]} == {(1, 8, 8)}
    assert {s.stride_kv for s in specs[2:8]} == {(1, 4, 4)}
    assert {s.stride_kv for s in specs[8:44]} == {(1, 2, 2)}
    assert {s.stride_kv for s in specs[44:]} == {(1, 1, 1)}
    assert [specs[i].num_heads for i in (0, 2, 8, 44)] == [2, 4, 8, 16]


def test_rel_pos_index_uses_the_fork_float32_order() -> None:
    # q=78 tokens against 10 pooled keys (stage 1 at 312 px): the float32 order of the fork truncates
    # differently from torchvision's algebraically equal formula for some pairs.
    fork = rel_pos_index(78, 10)
    q_ratio, k_ratio = 1.0, 7.8
    tv = (torch.arange(78)[:, None] * q_ratio - (torch.arange(10)[None, :] + (1 - 10)) * k_ratio).long()
    assert fork.shape == (78, 10)
    assert int(fork.min()) >= 0 and int(fork.max()) <= 2 * 78 - 2
    assert not torch.equal(fork, tv)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> WeightFiles:
    root = tmp_path_factory.mktemp("mvit_weights")
    write_random_mvit(root, "tiny", seed=3)
    return WeightFiles(root)


def test_random_weights_use_the_released_container(tiny_weights: WeightFiles) -> None:
    ckpt = load_torch(tiny_weights.mvit_checkpoint)
    assert set(ckpt) == {"epoch", "model_state", "cfg"}
    assert isinstance(ckpt["cfg"], str)
    assert read_mvit_config(tiny_weights.mvit_config) == mvit_config_from_dict(yaml.safe_load(ckpt["cfg"]))
    model = load_mvit(tiny_weights.mvit_checkpoint, tiny_weights.mvit_config)
    assert set(model.state_dict()) == set(ckpt["model_state"])
    clip = torch.randn(1, 3, model.config.num_frames, 64, 80)
    preds, feats = model(clip, torch.tensor([[0.0, 4.0, 2.0, 50.0, 60.0]]))
    assert preds.shape == (1, 80) and feats.shape == (1, model.feature_dim)
    assert bool(((preds > 0) & (preds < 1)).all())


def _rewrite(tiny_weights: WeightFiles, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    ckpt = load_torch(tiny_weights.mvit_checkpoint)
    edit(ckpt["model_state"])
    path = tmp_path / "mvit.pyth"
    torch.save(ckpt, path)
    return path


def test_missing_key_is_rejected_by_name(tiny_weights: WeightFiles, tmp_path: Path) -> None:
    path = _rewrite(tiny_weights, tmp_path, lambda sd: sd.pop("blocks.2.attn.pool_k.weight"))
    with pytest.raises(ModelError, match=r"blocks\.2\.attn\.pool_k\.weight"):
        load_mvit(path, tiny_weights.mvit_config)


def test_stray_keys_are_skipped_and_misshaped_keys_rejected(
    tiny_weights: WeightFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the fork's loader keeps only keys whose name and shape match: a stray key is skipped and listed once
    path = _rewrite(tiny_weights, tmp_path, lambda sd: sd.update(pos_embed_spatial=torch.zeros(1, 4, 16)))
    with caplog.at_level(logging.INFO, logger="lart_demo.models.checkpoint"):
        load_mvit(path, tiny_weights.mvit_config)
    assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()] == [
        "AVA MViT checkpoint: skipped 1 key(s) the forward never reads: pos_embed_spatial"
    ]
    path = _rewrite(tiny_weights, tmp_path, lambda sd: sd.update({"norm.weight": torch.ones(7)}))
    with pytest.raises(ModelError, match=r"norm\.weight"):
        load_mvit(path, tiny_weights.mvit_config)


def test_rel_pos_length_mismatch_is_interpolated_loudly(
    tiny_weights: WeightFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = "blocks.0.attn.rel_pos_h"

    def shorten(sd: dict[str, torch.Tensor]) -> None:
        sd[key] = sd[key][:-4].clone()

    path = _rewrite(tiny_weights, tmp_path, shorten)
    with caplog.at_level(logging.WARNING):
        model = load_mvit(path, tiny_weights.mvit_config)
    assert key in caplog.text
    assert model.state_dict()[key].shape == load_torch(tiny_weights.mvit_checkpoint)["model_state"][key].shape


def test_batched_clips_equal_one_at_a_time(tiny_weights: WeightFiles) -> None:
    model = load_mvit(tiny_weights.mvit_checkpoint, tiny_weights.mvit_config)
    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(3, 3, model.config.num_frames, 64, 96, generator=gen)
    boxes = torch.tensor([[0, 1.0, 2.0, 30.0, 60.0], [1, 40.0, 0.0, 96.0, 64.0], [2, -5.0, 10.0, 20.0, 50.0]])
    with torch.no_grad():
        preds, feats = model(clips, boxes)
        for i in range(3):
            p, f = model(clips[i : i + 1], torch.cat([torch.zeros(1, 1), boxes[i : i + 1, 1:]], dim=1))
            torch.testing.assert_close(f[0], feats[i], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(p[0], preds[i], rtol=1e-5, atol=1e-5)


def test_wrong_clip_length_is_an_error(tiny_weights: WeightFiles) -> None:
    model = load_mvit(tiny_weights.mvit_checkpoint, tiny_weights.mvit_config)
    clip = torch.randn(1, 3, model.config.num_frames * 2, 64, 64)
    with pytest.raises(ModelError, match="NUM_FRAMES"):
        model(clip, torch.tensor([[0.0, 0.0, 0.0, 10.0, 10.0]]))


def test_config_merges_over_fork_defaults() -> None:
    raw = {
        "MODEL": {"ARCH": "mvit"},
        "MVIT": {"USE_ABS_POS": False},
        "DETECTION": {"ENABLE": True},
        "DATA": {"TRAIN_CROP_SIZE": 256},
    }
    cfg = mvit_config_from_dict(raw)
    # untouched keys take the fork's defaults
    assert (cfg.num_frames, cfg.sampling_rate, cfg.embed_dim, cfg.spatial_scale_factor) == (8, 8, 96, 16.0)
    assert cfg.input_format == "BGR" and cfg.head_act == "softmax"
    tiny = mvit_config_from_dict(TINY_MVIT_YAML)
    assert tiny.seq_length == TINY_MVIT_YAML["DATA"]["NUM_FRAMES"] * TINY_MVIT_YAML["DATA"]["SAMPLING_RATE"]


@pytest.mark.parametrize(
    ("section", "key", "value", "match"),
    [
        ("MVIT", "USE_ABS_POS", True, "USE_ABS_POS"),
        ("MVIT", "POOL_FIRST", True, "POOL_FIRST"),
        ("DETECTION", "ENABLE", False, "DETECTION.ENABLE"),
        ("DATA", "TRAIN_CROP_SIZE", 224, "TRAIN_CROP_SIZE"),
    ],
)
def test_unsupported_configs_are_refused(section: str, key: str, value: object, match: str) -> None:
    raw = copy.deepcopy(TINY_MVIT_YAML)
    raw[section][key] = value
    with pytest.raises(ModelError, match=match):
        mvit_config_from_dict(raw)


def test_unknown_mvit_key_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    raw = copy.deepcopy(TINY_MVIT_YAML)
    raw["MVIT"]["SOMETHING_NEW"] = 1
    raw["DATA"]["DECODING_BACKEND"] = "pyav"  # a data-loading key: irrelevant to inference, silently ignored
    with caplog.at_level(logging.WARNING):
        mvit_config_from_dict(raw)
    assert "SOMETHING_NEW" in caplog.text and "DECODING_BACKEND" not in caplog.text
