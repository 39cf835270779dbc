"""Pose predictor: full-size schema, checkpoint layouts (incl. the 'encoder.' pitfall), quirk flag, clamping."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lart_demo.errors import ModelError, WeightsError
from lart_demo.models.checkpoint import assign_state_dict
from lart_demo.models.pose_normalisation import read_mean_std
from lart_demo.models.pose_predictor import (
    POSE_DIM,
    TINY_CONFIG,
    PosePredictor,
    PosePredictorConfig,
    build_pose_predictor,
    checkpoint_filter_fn,
    load_pose_predictor,
    read_pose_predictor_config,
    write_random_pose_predictor,
)
from lart_demo.weights.files import WeightFiles


def read_schema(schema_file: Path, section_prefix: str) -> dict[str, tuple[int, ...]]:
    lines = schema_file.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(section_prefix))
    table: dict[str, tuple[int, ...]] = {}
    for line in lines[start + 3 :]:
        if line.startswith("-----"):
            break
        key, rest = line.split(maxsplit=1)
        table[key] = tuple(int(s) for s in rest[: rest.index(")")].strip("(").split(",") if s.strip())
    return table


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> WeightFiles:
    files = WeightFiles(tmp_path_factory.mktemp("weights"))
    written = write_random_pose_predictor(files.root, "tiny", seed=1)
    assert written == [files.pose_predictor_checkpoint, files.pose_predictor_config, files.mean_std]
    return files


@pytest.fixture(scope="module")
def model(weights: WeightFiles) -> PosePredictor:
    return load_pose_predictor(
        weights.pose_predictor_checkpoint, weights.pose_predictor_config, mean_std=weights.mean_std
    )


def histories(times: list[list[int]], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    poses = torch.randn(len(times), len(times[0]), POSE_DIM, generator=g) * 0.3
    return poses, torch.tensor(times, dtype=torch.int64)


def test_full_size_schema_equals_reference(reference_dir: Path) -> None:
    expected = read_schema(reference_dir / "phalp_schemas.txt", "Pose_transformer_v2 (")
    with torch.device("meta"):
        full = PosePredictor(PosePredictorConfig())
    got = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert sorted(set(got) ^ set(expected)) == []
    assert {k: v for k, v in got.items() if v != expected[k]} == {}


def test_tiny_files_roundtrip(weights: WeightFiles, model: PosePredictor) -> None:
    assert yaml.safe_load(weights.pose_predictor_config.read_text()).keys() == {"configs"}
    assert read_pose_predictor_config(weights.pose_predictor_config) == TINY_CONFIG
    saved = torch.load(weights.pose_predictor_checkpoint, weights_only=True)["state_dict"]
    assert all(k.startswith("encoder.") for k in saved)
    for key, value in saved.items():  # every tensor loaded, pose_shape_encoder included
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    norm = read_mean_std(weights.mean_std)
    mean, std = norm.mean, norm.std
    np.testing.assert_allclose(model.mean.numpy().reshape(-1), mean, rtol=1e-6)
    assert (std[-3:] == 1).all() and (mean[-3:] == 0).all()  # 226 stored, padded to 229


# ---------------------------------------------------------------------------------------------- layouts


def _released_layout(model: PosePredictor) -> dict[str, torch.Tensor]:
    return {"encoder." + k: v.clone() for k, v in model.encoder.state_dict().items()}


@pytest.mark.parametrize(
    "layout",
    ["lightning_prefixed", "lightning_bare", "plain_prefixed", "plain_bare", "lightning_whole_module"],
)
def test_checkpoint_layouts_load_every_tensor(layout: str, model: PosePredictor) -> None:
    prefixed = _released_layout(model)
    bare = {k[len("encoder.") :]: v for k, v in prefixed.items()}
    checkpoint = {
        "lightning_prefixed": {"state_dict": prefixed, "epoch": 3, "global_step": 10},
        "lightning_bare": {"state_dict": bare},
        "plain_prefixed": prefixed,
        "plain_bare": bare,
        # a checkpoint of the whole Pose_transformer_v2: normalisation and SMPL buffers come from elsewhere
        "lightning_whole_module": {
            "state_dict": {**prefixed, "mean": torch.zeros(1, 1, 229), "smpl.v_template": torch.zeros(2, 3)}
        },
    }[layout]
    mapped = checkpoint_filter_fn(checkpoint)
    assert set(model.encoder.state_dict()) <= mapped.keys()
    # the upstream pitfall: replace('encoder.', '') would give 'pose_shape_0.weight' here
    assert "pose_shape_encoder.0.weight" in mapped and "pose_shape_0.weight" not in mapped
    fresh = build_pose_predictor(TINY_CONFIG)
    skipped = assign_state_dict(fresh.encoder, mapped, model_name="pose predictor")
    assert skipped == (["mean", "smpl.v_template"] if layout == "lightning_whole_module" else [])
    torch.testing.assert_close(fresh.encoder.pose_shape_encoder[2].weight, model.encoder.pose_shape_encoder[2].weight)


def _save_and_load(tmp_path: Path, weights: WeightFiles, checkpoint: object) -> PosePredictor:
    path = tmp_path / "pp.ckpt"
    torch.save(checkpoint, path)
    return load_pose_predictor(path, weights.pose_predictor_config, mean_std=weights.mean_std)


def test_missing_and_misshaped_keys_are_named(tmp_path: Path, weights: WeightFiles, model: PosePredictor) -> None:
    tensors = _released_layout(model)
    missing = {k: v for k, v in tensors.items() if k != "encoder.pose_shape_encoder.0.bias"}
    with pytest.raises(ModelError, match=r"missing keys.*pose_shape_encoder\.0\.bias"):
        _save_and_load(tmp_path, weights, {"state_dict": missing})
    wrong = {**tensors, "encoder.conv_en.weight": torch.zeros(16, 16, 5)}
    with pytest.raises(ModelError, match=r"mis-shaped keys.*conv_en\.weight"):
        _save_and_load(tmp_path, weights, {"state_dict": wrong})
    with pytest.raises(ModelError, match="state_dict"):
        _save_and_load(tmp_path, weights, {"state_dict": {"encoder.x": "not a tensor"}})


def test_keys_the_forward_never_reads_are_skipped_in_one_line(
    tmp_path: Path, weights: WeightFiles, model: PosePredictor, caplog: pytest.LogCaptureFixture
) -> None:
    """Upstream loads with strict=False: the unused transformer, sinusoid tables and class token may be absent
    or mis-shaped, and stray keys may be present; all of them are skipped and listed once."""
    tensors = _released_layout(model)
    unused = [k for k in tensors if k.split(".")[1] in ("transformer", "pos_embedding", "pe", "class_token")]
    slim = {k: v for k, v in tensors.items() if k not in unused}
    slim["encoder.pos_embedding"] = torch.zeros(7, 3)  # mis-shaped but never read
    slim["decoder.head.weight"] = torch.zeros(1)  # stray
    with caplog.at_level("INFO", logger="lart_demo.models.checkpoint"):
        loaded = _save_and_load(tmp_path, weights, {"state_dict": slim})
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1
    assert "pos_embedding" in lines[0] and "decoder.head.weight" in lines[0] and "transformer.* (" in lines[0]
    torch.testing.assert_close(
        loaded.encoder.transformer1.layers[0][0].norm.weight, model.encoder.transformer1.layers[0][0].norm.weight
    )
    poses, en_time = histories([[0, 1, 2, 3, 4, 5, 6]])
    torch.testing.assert_close(
        loaded.predict_next(poses, en_time, torch.zeros(1)), model.predict_next(poses, en_time, torch.zeros(1))
    )


def test_duplicate_mapped_keys_later_entry_wins(tmp_path: Path, weights: WeightFiles, model: PosePredictor) -> None:
    """Upstream builds {k.replace('encoder.', ''): v}: when 'encoder.x' and 'x' both exist the later one wins."""
    tensors = _released_layout(model)
    tensors["mask_token"] = torch.full_like(tensors["encoder.mask_token"], 3.0)
    assert torch.all(_save_and_load(tmp_path, weights, {"state_dict": tensors}).encoder.mask_token == 3.0)


def test_lightning_hyper_parameters_load_as_inert_stand_ins(
    tmp_path: Path, weights: WeightFiles, model: PosePredictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning pickles its hyper-parameters (an AttributeDict): allowed, but only as a stand-in."""
    fake = types.ModuleType("pytorch_lightning.utilities.parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = fake.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    fake.AttributeDict = AttributeDict  # type: ignore[attr-defined]
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", fake.__name__):
        monkeypatch.setitem(sys.modules, name, fake if name == fake.__name__ else types.ModuleType(name))
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": _released_layout(model), "hyper_parameters": AttributeDict(lr=1e-4)}, path)
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", fake.__name__):
        monkeypatch.delitem(sys.modules, name)
    loaded = load_pose_predictor(path, weights.pose_predictor_config, mean_std=weights.mean_std)
    torch.testing.assert_close(loaded.encoder.mask_token, model.encoder.mask_token)

    from fractions import Fraction

    torch.save({"state_dict": _released_layout(model), "other": Fraction(1, 3)}, tmp_path / "evil.ckpt")
    with pytest.raises(WeightsError, match=r"fractions\.Fraction"):
        load_pose_predictor(tmp_path / "evil.ckpt", weights.pose_predictor_config, mean_std=weights.mean_std)


def test_mean_std_file_forms(tmp_path: Path) -> None:
    mean, std = np.arange(226.0).reshape(1, -1), np.full((1, 226), 2.0)
    np.save(tmp_path / "a.npy", np.stack([mean, std]))
    np.save(tmp_path / "b.npy", np.array([mean, std[:, :]], dtype=object), allow_pickle=True)
    for name in ("a.npy", "b.npy"):
        norm = read_mean_std(tmp_path / name)
        m, s = norm.mean, norm.std
        assert m.shape == s.shape == (229,) and m[225] == 225 and m[226:].tolist() == [0, 0, 0]
        assert s[:226].tolist() == [2.0] * 226 and s[226:].tolist() == [1, 1, 1]
    np.save(tmp_path / "c.npy", np.array([Path("x"), Path("y")], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match=r"Refused to load c\.npy: it refers to pathlib"):
        read_mean_std(tmp_path / "c.npy")


def test_config_validation(tmp_path: Path) -> None:
    configs = TINY_CONFIG.to_configs()
    assert PosePredictorConfig.from_configs(configs) == TINY_CONFIG
    configs["extra_feat"]["pose_shape"]["en_dim"] = 32
    with pytest.raises(ModelError, match="en_dim"):
        PosePredictorConfig.from_configs(configs)
    del configs["transformer"]
    with pytest.raises(ModelError, match="transformer"):
        PosePredictorConfig.from_configs(configs)
    (tmp_path / "x.yaml").write_text("model: {}\n")
    with pytest.raises(ModelError, match="configs"):
        read_pose_predictor_config(tmp_path / "x.yaml")


# ---------------------------------------------------------------------------------------------- predict_next


def test_first_track_slot_quirk_both_ways(model: PosePredictor) -> None:
    times = [[10, 11, 12, 13, 14, 15, 16], [3, 3, 3, 3, 3, 3, 3], [0, 2, 4, 6, 8, 10, 12]]
    poses, en_time = histories(times)
    gaps = torch.tensor([0, 2, 5])
    decoded, slots = model.decode_history(poses, en_time)
    assert slots[:, -1].tolist() == [6, 0, 12]
    targets = [6 + 0 + 1, 0 + 2 + 1, 12 + 5 + 1]
    quirk = model.predict_next(poses, en_time, gaps)  # upstream default
    fixed = model.predict_next(poses, en_time, gaps, first_track_slot_quirk=False)
    assert quirk.shape == fixed.shape == (3, POSE_DIM)
    torch.testing.assert_close(quirk, decoded["pose_camera"][:, targets[0]])
    torch.testing.assert_close(fixed, decoded["pose_camera"][torch.arange(3), torch.tensor(targets)])
    torch.testing.assert_close(quirk[0], fixed[0])
    assert not torch.allclose(quirk[1:], fixed[1:])
    # each track's own result does not depend on the batch it is in (when the quirk is off)
    alone = model.predict_next(poses[2:], en_time[2:], gaps[2:], first_track_slot_quirk=False)
    torch.testing.assert_close(alone[0], fixed[2], atol=1e-5, rtol=1e-5)


def test_target_slot_is_clamped_to_the_window(model: PosePredictor) -> None:
    t_last = model.config.frame_length - 3
    poses, en_time = histories([[0, 1, 2, 3, 4, 5, t_last]])
    decoded, _ = model.decode_history(poses, en_time)
    out = model.predict_next(poses, en_time, torch.tensor([40]))
    torch.testing.assert_close(out[0], decoded["pose_camera"][0, model.config.frame_length - 1])


def test_long_history_keeps_the_newest_window(model: PosePredictor) -> None:
    """Upstream crashes when a history spans > frame_length-1 frames; we drop the entries that do not fit."""
    horizon = model.config.frame_length - 1
    times = [[0, 10, 60, 100, 150, 160, 170]]  # 170 - 0 > horizon; 10 is too old as well
    poses, en_time = histories(times)
    out = model.predict_next(poses, en_time, torch.tensor([1]))
    _, slots = model.decode_history(poses, en_time)
    assert slots.tolist() == [[-1, -1, 0, 40, 90, 100, 110]] and 170 - 60 <= horizon
    # same as a history whose dropped entries are copies of the oldest kept one
    same_poses = poses.clone()
    same_poses[0, :2] = poses[0, 2]
    same_times = torch.tensor([[60, 60, 60, 100, 150, 160, 170]])
    torch.testing.assert_close(out, model.predict_next(same_poses, same_times, torch.tensor([1])))
    # exactly horizon frames is still one window (nothing dropped)
    _, slots = model.decode_history(poses, torch.tensor([[0, 1, 2, 3, 4, 5, horizon]]))
    assert slots.tolist() == [[0, 1, 2, 3, 4, 5, horizon]]


def test_bad_histories_are_rejected(model: PosePredictor) -> None:
    poses, en_time = histories([[5, 4, 6, 7, 8, 9, 10]])
    with pytest.raises(ModelError, match="increasing"):
        model.predict_next(poses, en_time, torch.tensor([0]))
    poses, en_time = histories([[1, 2, 3, 4, 5, 6, 7]])
    with pytest.raises(ModelError, match="time_to_predict"):
        model.predict_next(poses, en_time, torch.tensor([0, 1]))
    with pytest.raises(ModelError, match="en_pose"):
        model.predict_next(poses[:, :, :10], en_time, torch.tensor([0]))
    empty = model.predict_next(poses[:0], en_time[:0], torch.tensor([], dtype=torch.int64))
    assert empty.shape == (0, POSE_DIM)


def test_numpy_inputs_match_tensor_inputs(model: PosePredictor) -> None:
    poses, en_time = histories([[1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0]])
    a = model.predict_next(poses, en_time, torch.tensor([0, 1]))
    b = model.predict_next(poses.numpy(), en_time.numpy(), np.array([0, 1]))
    torch.testing.assert_close(a, b)


def test_lightning_checkpoint_with_omegaconf_hyper_parameters_loads(tmp_path: Path, weights: WeightFiles) -> None:
    """The released file is a Lightning save: its OmegaConf hyper-parameters pickle builtins/typing/collections."""
    omegaconf = pytest.importorskip("omegaconf")
    ckpt = torch.load(weights.pose_predictor_checkpoint, weights_only=True)
    ckpt["hyper_parameters"] = {"cfg": omegaconf.OmegaConf.create({"configs": {"in_feat": 32, "extra": [1, 2]}})}
    torch.save(ckpt, tmp_path / "lightning.ckpt")
    reloaded = load_pose_predictor(
        tmp_path / "lightning.ckpt", weights.pose_predictor_config, mean_std=weights.mean_std
    )
    reference = load_pose_predictor(
        weights.pose_predictor_checkpoint, weights.pose_predictor_config, mean_std=weights.mean_std
    )
    for (name, a), (_, b) in zip(reloaded.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    torch.save({**ckpt, "bad": torch.nn.ReLU()}, tmp_path / "code.ckpt")
    with pytest.raises(WeightsError, match="torch.nn"):
        load_pose_predictor(tmp_path / "code.ckpt", weights.pose_predictor_config, mean_std=weights.mean_std)
