"""HMAR: released-size schema, checkpoint layouts and key errors, UV processing, fusion, random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import resnet50

from lart_demo.errors import ModelError
from lart_demo.models.hmar import (
    HMAR,
    TINY_CONFIG,
    HMARConfig,
    build_hmar,
    fuse_uv,
    hmar_checkpoint_from_model,
    load_hmar,
    max_pool_2x2,
    process_uv_image,
    write_random_hmar,
)
from lart_demo.weights.files import WeightFiles


def read_schema(schema_file: Path, section_prefix: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """key -> (shape, dtype) from one section of a *_schemas.txt table."""
    lines = schema_file.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(section_prefix))
    table: dict[str, tuple[tuple[int, ...], str]] = {}
    for line in lines[start + 3 :]:
        if line.startswith("-----"):
            break
        key, rest = line.split(maxsplit=1)
        shape_text = rest[: rest.index(")") + 1]
        shape = tuple(int(s) for s in shape_text.strip("()").split(",") if s.strip())
        dtype = rest[len(shape_text) :].split()[0]
        table[key] = (shape, dtype)
    return table


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    written = write_random_hmar(root, "tiny", seed=3)
    assert written == [WeightFiles(root).hmar_checkpoint, WeightFiles(root).texture]
    return written[0]


def make_crops(batch: int, side: int) -> torch.Tensor:
    """Random RGB and a box-shaped 0..255 person mask (the HMAR input layout)."""
    g = torch.Generator().manual_seed(side)
    rgb = torch.randn(batch, 3, side, side, generator=g)
    mask = torch.zeros(batch, 1, side, side)
    mask[:, :, side // 6 : side * 5 // 6, side // 3 : side * 2 // 3] = 255.0
    return torch.cat([rgb, mask], 1)


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    return make_crops(2, 256)


@pytest.fixture(scope="module")
def small_crops() -> torch.Tensor:
    """The CPU here is slow: tests that do not need the 4096-d code use 64x64 crops."""
    return make_crops(1, 64)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint: Path) -> HMAR:
    return load_hmar(tiny_checkpoint)


@pytest.fixture(scope="module")
def tiny_forward(tiny_model: HMAR, crops: torch.Tensor) -> dict:
    with torch.no_grad():
        return tiny_model(crops)


def test_full_size_schema_equals_reference(reference_dir: Path) -> None:
    expected = read_schema(reference_dir / "phalp_schemas.txt", "HMAR (")
    # SMPL body buffers live in our SMPL module (lart_demo/models/smpl.py), not inside HMAR
    expected = {k: v for k, v in expected.items() if not k.startswith("smpl.")}
    with torch.device("meta"):
        model = HMAR(HMARConfig())
    got = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()}
    assert sorted(set(got) ^ set(expected)) == []
    assert {k: v for k, v in got.items() if v != expected[k]} == {}


@pytest.mark.slow
def test_backbone_is_torchvision_resnet50() -> None:
    """Same keys and the same function as torchvision's ResNet-50 trunk on the RGB channels."""
    torch.manual_seed(0)
    reference = resnet50().eval()
    model = build_hmar()
    own = model.backbone.state_dict()
    tv = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert set(own) - set(tv) == {"conv1m.weight"}
    model.backbone.load_state_dict({**tv, "conv1m.weight": own["conv1m.weight"]})
    x = torch.randn(1, 4, 64, 64)
    x[:, 3] = 255.0  # mask everywhere: the gate is 1
    with torch.no_grad():
        gated, skips = model.backbone(x)
        trunk = torch.nn.Sequential(*list(reference.children())[:-2])
        expected = trunk(x[:, :3])
    torch.testing.assert_close(skips[3], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gated, expected, rtol=1e-5, atol=1e-5)


def test_tiny_weights_roundtrip_and_outputs(
    tiny_checkpoint: Path, tiny_model: HMAR, tiny_forward: dict, crops: torch.Tensor
) -> None:
    assert tiny_model.config == TINY_CONFIG  # sizes read from the file
    texture = np.load(tiny_checkpoint.parent / "texture.npz")
    assert texture["smpl_faces"].shape == (13776, 3) and texture["smpl_faces"].max() < 6890
    assert texture["ft"].max() < texture["vt"].shape[0] and 0 <= texture["vt"].min() <= texture["vt"].max() <= 1
    out = tiny_model.appearance(crops[:1])
    assert out["appe"].shape == (1, 4096) and (out["appe"] >= 0).all()
    assert out["flow"].shape == (1, 2, 256, 256) and out["flow"].abs().max() <= 1
    assert set(out["uv_vector"][:, 3].unique().tolist()) == {-1.0, 1.0}
    full = tiny_forward
    # batch of 2 vs batch of 1: convolution kernels may sum in another order
    torch.testing.assert_close(full["uv_vector"][:1], out["uv_vector"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(tiny_model.encode_uv(full["uv_vector"])[:1], out["appe"], atol=1e-4, rtol=1e-4)
    assert full["pose_smpl"]["body_pose"].shape == (2, 23, 3, 3)
    rot = full["pose_smpl"]["global_orient"][:, 0]
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5, rtol=0)


def test_uv_image_carries_the_in_place_mask_quirk(tiny_model: HMAR, tiny_forward: dict, crops: torch.Tensor) -> None:
    out = tiny_forward
    raw = tiny_model.sample_uv(crops, out["flow"])
    torch.testing.assert_close(out["uv_image"][:, :3], raw[:, :3])  # rgb NOT divided by 5
    torch.testing.assert_close(out["uv_image"][:, 3], out["uv_vector"][:, 3])  # +1/-1, not 0..255
    assert raw[:, 3].max() > 1  # the raw sample is on the 0..255 scale


def test_mask_gates_pose_embedding_only(tiny_model: HMAR, small_crops: torch.Tensor) -> None:
    no_mask = small_crops.clone()
    no_mask[:, 3] = 0
    with torch.no_grad():
        a, b = tiny_model._texture(small_crops), tiny_model._texture(no_mask)
    torch.testing.assert_close(a["flow"], b["flow"])  # the backbone sees RGB only
    assert (b["pose_emb"] == 0).all() and (a["pose_emb"] != 0).any()
    assert (b["uv_vector"][:, 3] == -1).all()  # nothing visible without a mask


def test_process_uv_image_rules() -> None:
    uv = torch.tensor([[[[5.0, 10.0]], [[-5.0, 1.0]], [[2.5, 0.0]], [[0.0, 0.5]]]])  # (1, 4, 1, 2)
    out = process_uv_image(uv)
    expected = torch.tensor([[[[0.0, 2.0]], [[0.0, 0.2]], [[0.0, 0.0]], [[-1.0, 1.0]]]])
    torch.testing.assert_close(out, expected)
    assert uv[0, 3, 0, 0] == 0.0  # pure: the input is not edited


def test_fuse_uv_blends_by_visibility() -> None:
    old = np.zeros((4, 2, 2), dtype=np.float32)
    new = np.zeros((4, 2, 2), dtype=np.float32)
    old[:3], new[:3] = 0.5, 0.1
    old[3] = [[1, 1], [-1, -1]]  # visible: top row
    new[3] = [[1, -1], [1, -1]]  # visible: left column
    fused = fuse_uv(old, new, conf=0.9, alpha=0.1)
    a = 0.1 * 0.9**2
    assert fused.dtype == np.float64 and fused.shape == (4, 2, 2)
    o, n = float(np.float32(0.5)), float(np.float32(0.1))
    np.testing.assert_allclose(fused[:3, 0, 0], (1 - a) * o + a * n, rtol=0, atol=1e-12)  # both
    np.testing.assert_array_equal(fused[:3, 0, 1], o)  # old only
    np.testing.assert_array_equal(fused[:3, 1, 0], n)  # new only
    np.testing.assert_array_equal(fused[:3, 1, 1], 0.0)  # neither
    np.testing.assert_array_equal(fused[3], [[1, 1], [1, -1]])
    with pytest.raises(ValueError):
        fuse_uv(old, new[:3], conf=1.0)


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 4, 7, 9), (3, 1, 2, 2)])
def test_max_pool_2x2_equals_max_pool2d(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    x.view(-1)[::5] = float("nan")  # NaN propagates in both
    x.view(-1)[1::7] = -float("inf")
    torch.testing.assert_close(max_pool_2x2(x), torch.nn.functional.max_pool2d(x, 2), rtol=0, atol=0, equal_nan=True)


def test_uv_encoder_with_relu_after_pooling_is_bit_equal(tiny_model: HMAR) -> None:
    uv = torch.randn(3, 4, 256, 256, generator=torch.Generator().manual_seed(1))
    head = tiny_model.encoding_head
    y = uv
    for conv in (head.conv1x, head.conv2, head.conv3, head.conv4):  # upstream's order: relu, then pool
        y = torch.nn.functional.max_pool2d(torch.relu(conv(y)), 2)
    upstream = torch.relu(head.conv5_1(torch.relu(head.conv5(y))))
    assert torch.equal(head.encode(uv), upstream)


def _tiny_state(seed: int = 1) -> tuple[HMAR, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    model = build_hmar(TINY_CONFIG)
    return model, hmar_checkpoint_from_model(model)["model"]


def _save(tmp_path: Path, tensors: dict[str, torch.Tensor], name: str = "hmar.pth") -> Path:
    path = tmp_path / name
    torch.save({"model": tensors}, path)
    return path


def test_stray_and_duplicate_keys_load_as_upstream(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model, tensors = _tiny_state()
    tensors["hmar.backbone.extra_conv.weight"] = torch.zeros(3)  # not read by the forward: skipped, listed
    tensors["hmar.optimizer_thing"] = torch.zeros(1)  # ignored silently, as upstream (no HMAR group in the name)
    del tensors["hmar.backbone.conv1m.weight"]  # the unused 4-channel stem is not required
    # upstream cuts 5 characters, so 'hmar.' and 'ema_.' copies map onto one key: the later entry wins, as in
    # upstream's dict
    tensors["ema_.smplx_head.fc1.bias"] = torch.full_like(tensors["hmar.smplx_head.fc1.bias"], 7.0)
    with caplog.at_level("INFO"):
        loaded = load_hmar(_save(tmp_path, tensors), TINY_CONFIG)
    assert torch.all(loaded.smpl_head.fc1.bias == 7.0)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "backbone.extra_conv.weight" in skipped[0] and "backbone.conv1m.weight" in skipped[0]
    assert "optimizer_thing" not in skipped[0]
    torch.testing.assert_close(loaded.backbone.conv1.weight, model.backbone.conv1.weight)


def test_missing_and_misshaped_keys_are_named(tmp_path: Path) -> None:
    _, tensors = _tiny_state()
    del tensors["hmar.texture_head.decoder.up_2.conv_0.weight_orig"]
    with pytest.raises(ModelError, match=r"missing keys.*texture_head\.decoder\.up_2\.conv_0\.weight_orig"):
        load_hmar(_save(tmp_path, tensors), TINY_CONFIG)
    _, tensors = _tiny_state()
    with pytest.raises(ModelError, match=r"mis-shaped keys.*backbone\.conv1\.weight"):
        load_hmar(_save(tmp_path, tensors, "b.pth"), HMARConfig(backbone_layers=(1, 1, 1, 1), backbone_width_divisor=8))
    with pytest.raises(ModelError, match="'model'"):
        torch.save({"state_dict": tensors}, tmp_path / "c.pth")
        load_hmar(tmp_path / "c.pth")


def test_decoder_half_is_optional(tmp_path: Path, crops: torch.Tensor) -> None:
    model, tensors = _tiny_state()
    with_decoder = load_hmar(_save(tmp_path, tensors, "full.pth"))
    with torch.no_grad():
        code = with_decoder.encode_uv(process_uv_image(crops[:1]))
        assert with_decoder.decode_uv(code).shape == (1, 4, 256, 256)
        without = {k: v for k, v in tensors.items() if ".t_" not in k}
        slim = load_hmar(_save(tmp_path, without, "slim.pth"), TINY_CONFIG)
        torch.testing.assert_close(slim.encode_uv(process_uv_image(crops[:1])), code)
    assert not slim.config.uv_decoder
    with pytest.raises(ModelError, match="decoder"):
        slim.decode_uv(code)
    partial = {k: v for k, v in tensors.items() if "t_conv3" not in k}
    with pytest.raises(ModelError, match=r"part of the UV decoder.*encoding_head\.t_conv3\.weight"):
        load_hmar(_save(tmp_path, partial, "partial.pth"))


def test_smpl_mean_params_fallback(
    tmp_path: Path, smpl_dir: Path, crops: torch.Tensor, small_crops: torch.Tensor
) -> None:
    _, tensors = _tiny_state()
    no_init = {k: v for k, v in tensors.items() if ".init_" not in k}
    path = _save(tmp_path, no_init)
    model = load_hmar(path)
    assert model.appearance(small_crops)["appe"].shape[0] == 1  # appearance does not need them
    with pytest.raises(ModelError, match="mean parameters"):
        model(small_crops)
    model = load_hmar(path, smpl_mean_params=smpl_dir / "smpl_mean_params.npz")
    means = np.load(smpl_dir / "smpl_mean_params.npz")
    np.testing.assert_allclose(model.smpl_head.init_cam.numpy()[0], means["cam"], rtol=1e-6)
    with torch.no_grad():
        assert model(small_crops)["pred_cam"].shape == (1, 3)


def test_old_spectral_norm_layout_gives_the_same_model(tmp_path: Path, small_crops: torch.Tensor) -> None:
    """Files saved before PyTorch stored weight_v hold weight_orig, weight (= W) and weight_u."""
    model, tensors = _tiny_state()
    old = dict(tensors)
    for key in [k for k in tensors if k.endswith(".weight_v")]:
        base = key[: -len("_v")]
        module = model.get_submodule(base[len("hmar.") : -len(".weight")])
        old[base] = module.weight().detach()
        del old[key]
    new_model = load_hmar(_save(tmp_path, tensors, "new.pth"))
    old_model = load_hmar(_save(tmp_path, old, "old.pth"))
    with torch.no_grad():
        flows = [m._texture(small_crops)["flow"] for m in (old_model, new_model)]
    torch.testing.assert_close(*flows)


def test_config_validation() -> None:
    with pytest.raises(ModelError, match="divide 64"):
        HMARConfig(backbone_width_divisor=3)
    with pytest.raises(ModelError, match="Unknown HMAR config"):
        build_hmar({"depth": 3})
    assert build_hmar({"backbone_layers": [1, 1, 1, 1], "backbone_width_divisor": 32}).config.pose_emb_dim == 64
