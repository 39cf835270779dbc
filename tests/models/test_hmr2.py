"""HMR2.0: full-size schema on the meta device, strict loading, released container formats, conventions."""

from __future__ import annotations

import ast
import pickle
import sys
import types
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
import yaml

from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.hmr2 import (
    build_hmr2,
    checkpoint_filter_fn,
    hmr2_config_from_mapping,
    load_hmr2,
    read_checkpoint,
    read_hmr2_config,
    released_config,
    rot6d_to_rotmat,
    tiny_config,
    write_random_hmr2,
)
from lart_demo.models.smpl import load_smpl
from lart_demo.weights.files import WeightFiles

IGNORED = ("discriminator.", "smpl.", "initialized")


def _schema(reference_dir: Path) -> dict[str, tuple[int, ...]]:
    entries = {}
    for line in (reference_dir / "hmr2_schema.txt").read_text().splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        key, shape = (part.strip() for part in line.split("|")[:2])
        entries[key] = tuple(ast.literal_eval(shape))
    return entries


def test_full_config_matches_released_schema(reference_dir: Path) -> None:
    schema = _schema(reference_dir)
    model = build_hmr2(released_config(), device="meta")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    used = {k: v for k, v in schema.items() if not k.startswith(IGNORED)}
    assert set(ours) == set(used), (sorted(set(ours) - set(used))[:5], sorted(set(used) - set(ours))[:5])
    wrong = {k: (ours[k], used[k]) for k in used if ours[k] != used[k]}
    assert not wrong, wrong
    # an empty config means the released one (the released YAML carries no ViT sizes)
    assert {k: tuple(v.shape) for k, v in build_hmr2({}, device="meta").state_dict().items()} == ours


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> WeightFiles:
    root = tmp_path_factory.mktemp("weights")
    paths = write_random_hmr2(root, profile="tiny", seed=0)
    files = WeightFiles(root)
    assert files.hmr2_checkpoint in paths and files.hmr2_config in paths
    return files


def test_tiny_weights_roundtrip_and_forward(tiny_weights: WeightFiles, smpl_dir: Path) -> None:
    assert read_hmr2_config(tiny_weights.hmr2_config) == hmr2_config_from_mapping(tiny_config())
    model = load_hmr2(tiny_weights.hmr2_checkpoint, tiny_weights.hmr2_config)
    state = checkpoint_filter_fn(read_checkpoint(tiny_weights.hmr2_checkpoint))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key].to(value.dtype)), key
    smpl = load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", tiny_weights.smpl_to_j19)
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(img, smpl=smpl)
    assert out["global_orient"].shape == (2, 1, 3, 3) and out["body_pose"].shape == (2, 23, 3, 3)
    assert out["betas"].shape == (2, 10) and out["pred_cam"].shape == (2, 3)
    assert out["pred_keypoints_3d"].shape == (2, 44, 3) and out["pred_vertices"].shape == (2, 6890, 3)
    assert out["pred_keypoints_2d"].shape == (2, 44, 2)
    s = out["pred_cam"][:, 0]
    torch.testing.assert_close(out["pred_cam_t"][:, 2], 2 * 5000 / (256 * s + 1e-9))
    # the backbone only sees columns 32:-32 of the crop
    changed = img.clone()
    changed[..., :32] = 5.0
    changed[..., -32:] = -5.0
    with torch.no_grad():
        torch.testing.assert_close(model(changed)["pred_cam"], out["pred_cam"])
        assert not torch.allclose(model(img.flip(-1))["pred_cam"], out["pred_cam"])


def _save(path: Path, state: dict, cfg: object = None) -> None:
    torch.save({"state_dict": state, "hyper_parameters": {"cfg": cfg or {}}}, path)


def test_missing_and_misshaped_keys_fail_stray_keys_are_listed(
    tiny_weights: WeightFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = checkpoint_filter_fn(read_checkpoint(tiny_weights.hmr2_checkpoint))
    cases = {
        "missing": ({k: v for k, v in state.items() if k != "smpl_head.decpose.weight"}, "smpl_head.decpose.weight"),
        "mis-shaped": ({**state, "backbone.pos_embed": torch.zeros(1, 5, 3)}, "backbone.pos_embed"),
    }
    for name, (bad, key) in cases.items():
        path = tmp_path / f"{name}.ckpt"
        _save(path, bad)
        with pytest.raises(ModelError, match=key.replace(".", r"\.")):
            load_hmr2(path, tiny_weights.hmr2_config)
    # keys the forward never reads are skipped (upstream loads with strict=False) and listed in ONE info line
    extra = {
        **state,
        "discriminator.D_conv1.weight": torch.zeros(32, 9, 1, 1),
        "discriminator.D_conv1.bias": torch.zeros(32),
        "smpl.v_template": torch.zeros(3),
        "backbone.extra.weight": torch.zeros(1),
    }
    _save(tmp_path / "extra.ckpt", extra)
    with caplog.at_level("INFO", logger="lart_demo.models.checkpoint"):
        load_hmr2(tmp_path / "extra.ckpt", tiny_weights.hmr2_config)
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1
    assert "skipped 5 key(s)" in lines[0] and "initialized" in lines[0] and "discriminator.* (2)" in lines[0]
    assert "backbone.extra.weight" in lines[0] and "smpl.v_template" in lines[0]


def test_not_a_checkpoint(tmp_path: Path, tiny_weights: WeightFiles) -> None:
    torch.save({"model": {}}, tmp_path / "x.ckpt")
    with pytest.raises(WeightsError, match="state_dict"):
        load_hmr2(tmp_path / "x.ckpt", tiny_weights.hmr2_config)
    with pytest.raises(WeightsError, match="not found"):
        load_hmr2(tmp_path / "absent.ckpt", tiny_weights.hmr2_config)


def _yacs_cfgnode_class(monkeypatch: pytest.MonkeyPatch) -> type:
    """A class that pickles as 'yacs.config.CfgNode' with yacs' attribute layout (yacs is not installed)."""

    class CfgNode(dict):
        def __init__(self, init: dict | None = None) -> None:
            super().__init__()
            for key, value in (init or {}).items():
                self[key] = CfgNode(value) if isinstance(value, dict) else value
            self.__dict__.update(
                __immutable__=True, __deprecated_keys__=set(), __renamed_keys__={}, __new_allowed__=False
            )

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    monkeypatch.setitem(sys.modules, "yacs", types.ModuleType("yacs"))
    monkeypatch.setitem(sys.modules, "yacs.config", types.ModuleType("yacs.config"))
    sys.modules["yacs.config"].CfgNode = CfgNode  # type: ignore[attr-defined]
    return CfgNode


def _plain(node: object) -> object:
    """A checkpoint's pickled config (CfgNode stand-in / OrderedDict) as plain dicts and lists."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def test_released_container_with_pickled_cfgnode(
    tiny_weights: WeightFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = checkpoint_filter_fn(read_checkpoint(tiny_weights.hmr2_checkpoint))
    config = tiny_config()
    cfg_node = _yacs_cfgnode_class(monkeypatch)(config)
    path = tmp_path / "released.ckpt"
    _save(path, state, cfg_node)
    monkeypatch.delitem(sys.modules, "yacs.config")
    monkeypatch.delitem(sys.modules, "yacs")
    loaded_cfg = _plain(read_checkpoint(path)["hyper_parameters"]["cfg"])  # the stand-in reads as plain dicts
    assert yaml.safe_load(yaml.safe_dump(loaded_cfg)) == yaml.safe_load(yaml.safe_dump(config))
    load_hmr2(path, tiny_weights.hmr2_config)


def test_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple:
            import os

            return (os.system, ("echo pwned > /dev/null",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": {}, "hyper_parameters": Exploit()}, protocol=2))
    with pytest.raises(WeightsError):
        read_checkpoint(path)


def test_rot6d_convention() -> None:
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    torch.testing.assert_close(rot6d_to_rotmat(identity[None]), torch.eye(3)[None])
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    r = rot6d_to_rotmat(x)
    torch.testing.assert_close(r.transpose(-1, -2) @ r, torch.eye(3).expand(64, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(64), atol=1e-5, rtol=0)
    # first column is the normalised first 3 numbers (not SPIN's interleaved layout)
    torch.testing.assert_close(r[:, :, 0], x[:, :3] / x[:, :3].norm(dim=-1, keepdim=True))


def test_unsupported_config_is_a_clear_error() -> None:
    config = released_config()
    config["MODEL"]["SMPL_HEAD"]["JOINT_REP"] = "aa"
    with pytest.raises(ModelError, match="joint rep 'aa'"):
        build_hmr2(config, device="meta")
