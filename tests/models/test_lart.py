"""LART model: config parsing, full-size schema, strict checkpoint loading, random weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.lart import (
    LART,
    LartConfig,
    build_lart,
    config_to_yaml_dict,
    lart_config_from_mapping,
    load_lart,
    read_lart_checkpoint,
    read_lart_config,
    tiny_lart_config,
    write_random_lart,
)
from lart_demo.weights.files import WeightFiles


def _read_schema(path: Path) -> dict[str, tuple[tuple[int, ...], str, str]]:
    rows = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype, kind = line.split("\t")
        dims = tuple(int(d) for d in re.findall(r"\d+", shape))
        rows[key] = (dims, dtype, kind)
    return rows


def test_full_size_schema_equals_reference(reference_dir: Path) -> None:
    schema = _read_schema(reference_dir / "lart_encoder_schema.txt")
    with torch.device("meta"):
        model = build_lart(LartConfig())
    params = {name for name, _ in model.named_parameters()}
    ours = {
        key: (tuple(t.shape), str(t.dtype).removeprefix("torch."), "param" if key in params else "buffer")
        for key, t in model.state_dict(keep_vars=True).items()
    }
    assert set(ours) == set(schema), (sorted(set(ours) - set(schema))[:5], sorted(set(schema) - set(ours))[:5])
    assert {k: v for k, v in ours.items() if v != schema[k]} == {}
    assert len(schema) == 227


def _save_ckpt(path: Path, model: LART, drop: str | None = None, extra: dict | None = None) -> Path:
    state = {"encoder." + k: v for k, v in model.state_dict().items() if k != drop}
    state.update(extra or {})
    torch.save({"state_dict": state, "epoch": 3, "global_step": 10}, path)
    return path


@pytest.fixture()
def tiny_files(tmp_path: Path) -> WeightFiles:
    write_random_lart(tmp_path, profile="tiny", seed=1, appearance_dim=24)
    return WeightFiles(tmp_path)


def test_random_tiny_weights_round_trip(tiny_files: WeightFiles) -> None:
    ckpt = torch.load(tiny_files.lart_checkpoint, weights_only=True)
    assert set(ckpt) == {"state_dict", "epoch", "global_step"}
    state = ckpt["state_dict"]
    assert all(k.startswith("encoder.") for k in state)
    assert state["encoder.pe"].data_ptr() == state["encoder.pos_embedding"].data_ptr()  # one storage, as released
    config = read_lart_config(tiny_files.lart_config)
    assert config == tiny_lart_config(24)
    model = load_lart(tiny_files.lart_checkpoint, tiny_files.lart_config)
    assert not model.training
    assert torch.equal(model.mask_token, state["encoder.mask_token"])
    assert tiny_files.ava_class_mapping.is_file() and tiny_files.ava_labels.is_file()


def test_missing_encoder_key_is_rejected_by_name(tmp_path: Path, tiny_files: WeightFiles) -> None:
    model = load_lart(tiny_files.lart_checkpoint, tiny_files.lart_config)
    bad = _save_ckpt(tmp_path / "bad.ckpt", model, drop="transformer.layers.0.0.fn.to_qkv.weight")
    with pytest.raises(ModelError, match=re.escape("transformer.layers.0.0.fn.to_qkv.weight")):
        load_lart(bad, tiny_files.lart_config)


def test_mis_shaped_keys_are_rejected_stray_keys_skipped(tmp_path: Path, tiny_files: WeightFiles) -> None:
    model = load_lart(tiny_files.lart_checkpoint, tiny_files.lart_config)
    state = {"encoder." + k: v for k, v in model.state_dict().items()}
    state["encoder.mask_token"] = torch.zeros(3)
    torch.save({"state_dict": state}, tmp_path / "shape.ckpt")
    with pytest.raises(ModelError, match="mask_token"):
        load_lart(tmp_path / "shape.ckpt", tiny_files.lart_config)
    extra = _save_ckpt(tmp_path / "extra.ckpt", model, extra={"encoder.interaction.weight": torch.zeros(2)})
    assert torch.equal(load_lart(extra, tiny_files.lart_config).mask_token, model.mask_token)  # stray: skipped


def test_unused_modules_optional_and_non_encoder_keys_dropped(tmp_path: Path, tiny_files: WeightFiles) -> None:
    model = load_lart(tiny_files.lart_checkpoint, tiny_files.lart_config)
    state = {"encoder." + k: v for k, v in model.state_dict().items() if not k.startswith(("conv_", "action_head_k"))}
    state["smpl.v_template"] = torch.zeros(6890, 3)  # the LitModule's SMPL buffers are not ours
    torch.save({"state_dict": state}, tmp_path / "slim.ckpt")
    again = load_lart(tmp_path / "slim.ckpt", tiny_files.lart_config)
    assert torch.equal(again.pos_embedding, model.pos_embedding)


def test_pe_wins_over_pos_embedding(tmp_path: Path, tiny_files: WeightFiles) -> None:
    model = load_lart(tiny_files.lart_checkpoint, tiny_files.lart_config)
    state = {"encoder." + k: v.clone() for k, v in model.state_dict().items()}
    state["encoder.pe"] = torch.full_like(state["encoder.pe"], 0.25)
    torch.save({"state_dict": state}, tmp_path / "both.ckpt")
    assert torch.all(load_lart(tmp_path / "both.ckpt", tiny_files.lart_config).pos_embedding == 0.25)
    del state["encoder.pe"]
    state["encoder.pos_embedding"] = torch.full_like(state["encoder.pos_embedding"], -0.5)
    torch.save({"state_dict": state}, tmp_path / "param_only.ckpt")
    assert torch.all(load_lart(tmp_path / "param_only.ckpt", tiny_files.lart_config).pos_embedding == -0.5)


def test_lightning_checkpoint_with_omegaconf_hyper_parameters(tmp_path: Path, tiny_files: WeightFiles) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create(config_to_yaml_dict(tiny_lart_config(24)))
    ckpt = torch.load(tiny_files.lart_checkpoint, weights_only=True)
    ckpt["hyper_parameters"] = {"cfg": cfg.configs}
    ckpt["pytorch-lightning_version"] = "2.0.0"
    torch.save(ckpt, tmp_path / "lightning.ckpt")
    state = read_lart_checkpoint(tmp_path / "lightning.ckpt")  # weights_only=True with inert stand-ins
    assert "encoder.mask_token" in state["state_dict"]


def test_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {}, "bad": Path("x")}, tmp_path / "ok_path.ckpt")
    read_lart_checkpoint(tmp_path / "ok_path.ckpt")  # pathlib is inert data
    torch.save({"state_dict": {}, "bad": torch.nn.ReLU()}, tmp_path / "module.ckpt")
    with pytest.raises(WeightsError, match="torch.nn"):
        read_lart_checkpoint(tmp_path / "module.ckpt")


def test_config_parsing(tmp_path: Path) -> None:
    assert lart_config_from_mapping(config_to_yaml_dict(LartConfig())) == LartConfig()
    doc = config_to_yaml_dict(LartConfig())
    doc["configs"]["extra_feat"]["apperance"]["dim"] = 768
    doc["configs"]["data_dir"] = "${paths.data_dir}"  # unused interpolations are fine
    (tmp_path / "lart.config").write_text(yaml.safe_dump(doc))
    assert read_lart_config(tmp_path / "lart.config").appearance.dim == 768
    doc["configs"]["mask_type_test"] = "random"
    with pytest.raises(ModelError, match="mask_type_test"):
        lart_config_from_mapping(doc)
    doc["configs"]["mask_type_test"] = "zero"
    doc["configs"]["in_feat"] = 500
    with pytest.raises(ModelError, match="in_feat"):
        lart_config_from_mapping(doc)
    doc["configs"]["in_feat"] = "${x}"
    with pytest.raises(ModelError, match="interpolation"):
        lart_config_from_mapping(doc)
    with pytest.raises(ModelError, match="configs"):
        lart_config_from_mapping({"foo": 1})
    with pytest.raises(WeightsError):
        read_lart_config(tmp_path / "missing.config")


def test_pose_only_config_has_no_extra_encoders() -> None:
    doc = config_to_yaml_dict(tiny_lart_config())
    doc["configs"]["extra_feat"]["enable"] = ""
    doc["configs"]["in_feat"] = 16
    del doc["configs"]["transformer"]["conv"]
    model = build_lart(doc)
    keys = model.state_dict().keys()
    assert not any(k.startswith(("joint_encoder", "apperance_encoder", "conv_")) for k in keys)
    tokens = model.encode(torch.zeros(2, 125, 229), torch.zeros(2, 125, dtype=torch.bool))
    assert tokens.shape == (2, 125, 16)


def test_masked_tokens_do_not_influence_others() -> None:
    torch.manual_seed(0)
    model = build_lart(tiny_lart_config(8))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    model.eval()
    masked = torch.zeros(1, 125, dtype=torch.bool)
    masked[0, 50:] = True
    pose, joints, app = torch.randn(1, 125, 229), torch.randn(1, 125, 135), torch.randn(1, 125, 8)
    a = model.encode(pose, masked, joints, app)
    pose2 = pose.clone()
    pose2[0, 60:] = 100.0  # changes only masked frames
    b = model.encode(pose2, masked, joints, app)
    assert torch.equal(a, b)
    pose2[0, 10] += 1.0  # an unmasked frame changes everything
    assert not torch.allclose(model.encode(pose2, masked, joints, app)[0, 20], a[0, 20])


def test_random_lart_appearance_width_follows_random_mvit(tmp_path: Path) -> None:
    from lart_demo.models import mvit

    mvit.write_random_mvit(tmp_path, profile="tiny")
    write_random_lart(tmp_path, profile="tiny")
    files = WeightFiles(tmp_path)
    width = mvit.load_mvit_from_weights(tmp_path).feature_dim
    assert read_lart_config(files.lart_config).appearance.dim == width
    assert load_lart(files.lart_checkpoint, files.lart_config).apperance_encoder[0].in_features == width
