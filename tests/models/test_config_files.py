"""Config files read the way upstream reads them: yacs/PySlowFast literals, OmegaConf interpolations."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lart_demo.errors import ModelError
from lart_demo.models.checkpoint import read_yaml_mapping
from lart_demo.models.mvit import TINY_MVIT_YAML, mvit_config_from_dict, read_mvit_config
from lart_demo.models.pose_predictor import TINY_CONFIG, read_pose_predictor_config

FORK_STYLE = """\
# written like the SlowFast fork's configs/Kinetics/MVITv2_L_40x3_test.yaml
TRAIN:
  ENABLE: False
  DATASET: ava
  BATCH_SIZE: 64
DATA:
  NUM_FRAMES: 4
  SAMPLING_RATE: 3
  TRAIN_CROP_SIZE: 64
  TEST_CROP_SIZE: 64
  INPUT_CHANNEL_NUM: [3]
  MEAN: [0.45, 0.45, 0.45]
  STD: [0.225, 0.225, 0.225]
MVIT:
  ZERO_DECAY_POS_CLS: False
  USE_ABS_POS: False
  REL_POS_SPATIAL: True
  REL_POS_TEMPORAL: True
  DEPTH: 4
  NUM_HEADS: 1
  EMBED_DIM: 16
  PATCH_KERNEL: (3, 7, 7)   # a Python tuple in text: yacs evaluates it
  PATCH_STRIDE: (2, 4, 4)
  PATCH_PADDING: (1, 3, 3)
  MLP_RATIO: 4.0
  QKV_BIAS: True
  DROPPATH_RATE: 0.5
  NORM: "layernorm"
  MODE: "conv"
  CLS_EMBED_ON: True
  DIM_MUL: [[1, 2.0], [2, 2.0], [3, 2.0]]
  HEAD_MUL: [[1, 2.0], [2, 2.0], [3, 2.0]]
  POOL_KVQ_KERNEL: (3, 3, 3)
  POOL_KV_STRIDE_ADAPTIVE: (1, 8, 8)
  POOL_Q_STRIDE: [[0, 1, 1, 1], [1, 1, 2, 2], [2, 1, 2, 2], [3, 1, 2, 2]]
  DROPOUT_RATE: 0.0
  DIM_MUL_IN_ATT: False
  RESIDUAL_POOLING: True
AVA:
  FRAME_DIR: /mnt/ava/frames   # a section the model never reads
  DETECTION_SCORE_THRESH: 0.8
MODEL:
  NUM_CLASSES: 80
  ARCH: mvit
  MODEL_NAME: MViT
  LOSS_FUNC: bce
  DROPOUT_RATE: 0.5
  HEAD_ACT: sigmoid
DETECTION:
  ENABLE: True
  ALIGNED: True
  SPATIAL_SCALE_FACTOR: 32
SOLVER:
  BASE_LR: 0.0001
NUM_GPUS: 0
"""


def test_fork_style_mvit_yaml_reads_like_yacs(tmp_path: Path) -> None:
    path = tmp_path / "mvit.yaml"
    path.write_text(FORK_STYLE)
    expected = copy.deepcopy(TINY_MVIT_YAML)
    expected["DATA"]["SAMPLING_RATE"] = 3
    got = read_mvit_config(path)
    assert got == mvit_config_from_dict(expected)
    assert got.patch_kernel == (3, 7, 7) and got.pool_kv_stride_adaptive == (1, 8, 8)


def test_mvit_values_that_change_the_computation_are_honoured_or_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "mvit.yaml"
    path.write_text(FORK_STYLE.replace("DATA:\n", "DATA:\n  REVERSE_INPUT_CHANNEL: True\n"))
    with pytest.raises(ModelError, match=r"DATA\.REVERSE_INPUT_CHANNEL"):
        read_mvit_config(path)
    path.write_text(FORK_STYLE.replace("MEAN: [0.45, 0.45, 0.45]", "MEAN: (0.5, 0.4, 0.3)"))
    assert read_mvit_config(path).mean == (0.5, 0.4, 0.3)  # honoured
    path.write_text(FORK_STYLE.replace("PATCH_KERNEL: (3, 7, 7)", "PATCH_KERNEL: (3, seven, 7)"))
    with pytest.raises(ModelError, match="wrong form"):  # a one-line error, not a bare ValueError
        read_mvit_config(path)


def _omegaconf_style(tmp_path: Path) -> Path:
    configs = TINY_CONFIG.to_configs()
    configs["extra_feat"]["pose_shape"]["en_dim"] = "${configs.in_feat}"  # absolute interpolation
    configs["transformer"]["conv"]["stride"] = 5
    configs["transformer"]["conv"]["pad"] = "${..depth}"  # relative: two levels up (depth is 1)
    configs["data_dir"] = "${paths.data_dir}"  # refers to a Hydra key the saved file lacks: fine while unused
    configs["log_dir"] = "${oc.env:HOME}/logs"  # a resolver: never run, fine while unused
    configs["name"] = "pp_${configs.frame_length}"  # interpolation inside a string
    path = tmp_path / "config_40006.yaml"
    path.write_text("# OmegaConf dump\n" + yaml.safe_dump({"configs": configs, "paths": {"root": "/x"}}))
    return path


def test_omegaconf_style_config_resolves_its_interpolations(tmp_path: Path) -> None:
    path = _omegaconf_style(tmp_path)
    assert read_pose_predictor_config(path) == TINY_CONFIG
    data = read_yaml_mapping(path, "test", "omegaconf")["configs"]
    assert data["name"] == f"pp_{TINY_CONFIG.frame_length}" and data["data_dir"] == "${paths.data_dir}"
    omegaconf = pytest.importorskip("omegaconf")  # the same answer as OmegaConf itself, where it resolves
    reference = omegaconf.OmegaConf.load(path)
    for key in ("in_feat", "name"):
        assert data[key] == reference.configs[key]
    assert data["transformer"]["conv"]["pad"] == reference.configs.transformer.conv.pad
    assert data["extra_feat"]["pose_shape"]["en_dim"] == reference.configs.extra_feat.pose_shape.en_dim


def test_an_unresolvable_value_the_model_reads_is_named(tmp_path: Path) -> None:
    configs = TINY_CONFIG.to_configs()
    configs["in_feat"] = "${paths.width}"
    path = tmp_path / "config_40006.yaml"
    path.write_text(yaml.safe_dump({"configs": configs}))
    with pytest.raises(ModelError, match="in_feat|paths.width"):
        read_pose_predictor_config(path)


def test_hmr2_preprocessing_values_other_than_the_released_are_refused_by_name(tmp_path: Path) -> None:
    from lart_demo.models.hmr2 import read_hmr2_config, released_config

    config = released_config()
    path = tmp_path / "model_config.yaml"
    path.write_text(yaml.safe_dump(config).replace("BBOX_SHAPE:", "# yacs dump\n  BBOX_SHAPE:"))
    assert read_hmr2_config(path).image_size == 256
    config["MODEL"]["IMAGE_STD"] = [0.5, 0.5, 0.5]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ModelError, match=r"MODEL\.IMAGE_STD"):
        read_hmr2_config(path)
    config = released_config()
    config["MODEL"]["IMAGE_SIZE"] = 224
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ModelError, match=r"MODEL\.IMAGE_SIZE=224"):
        read_hmr2_config(path)
