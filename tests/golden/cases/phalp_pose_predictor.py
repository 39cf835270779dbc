"""Golden phalp/pose_predictor: Pose_transformer_v2.predict_next through the tracker's entry point."""

from __future__ import annotations

import json
import pathlib
import tempfile

import numpy as np
import torch
import yaml
from golden.cases.compare import assert_close, assert_equal

from lart_demo.models.pose_predictor import load_pose_predictor


def check(case_dir: pathlib.Path) -> None:
    case_config = json.loads((case_dir / "config.json").read_text())
    inputs = np.load(case_dir / "inputs.npz")
    ref = np.load(case_dir / "outputs.npz")
    with tempfile.TemporaryDirectory() as tmp:
        # the released files: config_40006.yaml (root key 'configs') and mean_std.npy
        config_path = pathlib.Path(tmp) / "config_40006.yaml"
        config_path.write_text(yaml.safe_dump({"configs": case_config["configs"]}))
        mean_std_path = pathlib.Path(tmp) / "mean_std.npy"
        np.save(mean_std_path, inputs["mean_std"])
        model = load_pose_predictor(case_dir / "checkpoint.ckpt", config_path, mean_std=mean_std_path)

    en_pose = torch.from_numpy(inputs["en_pose"])
    en_time = torch.from_numpy(inputs["en_time"])
    gaps = torch.from_numpy(inputs["time_to_predict"])

    decoded, slots = model.decode_history(en_pose, en_time)
    assert_equal("history_slot", slots, ref["history_slot"])
    assert_equal("input_has_detection", decoded["has_detection"].float(), ref["input_has_detection"])
    assert_close(
        "input_pose_shape_normalised", decoded["input_normalised"], ref["input_pose_shape_normalised"], atol=1e-5
    )
    assert_close("encoder_out", decoded["tokens"], ref["encoder_out"], atol=1e-4, rtol=1e-4)
    assert_close("decoded_pose_camera", decoded["pose_camera"], ref["decoded_pose_camera"], atol=1e-4, rtol=1e-4)
    assert_close("decoded_ava_action", decoded["ava_action"], ref["decoded_ava_action"], atol=1e-4, rtol=1e-4)

    quirk = model.predict_next(en_pose, en_time, gaps)  # upstream default: first track's slot
    assert_close("prediction", quirk, ref["prediction"], atol=1e-4, rtol=1e-4)
    # predict_next reads out only the target slot; the heads act on each token alone, so that equals the
    # full decode's slot up to float32 summation order (the GEMM's row count differs).
    quirk_slot = int(ref["quirk_slot"])
    quirk_tokens = decoded["tokens"][:, quirk_slot]
    assert_close("prediction == readout of quirk_slot", quirk, model.readout_pose_camera(quirk_tokens), 0.0)
    assert_close("prediction ~ decoded at quirk_slot", quirk, decoded["pose_camera"][:, quirk_slot], atol=1e-6)
    fixed = model.predict_next(en_pose, en_time, gaps, first_track_slot_quirk=False)
    assert_close("per_track_slot_prediction", fixed, ref["per_track_slot_prediction"], atol=1e-4, rtol=1e-4)
    per_track = np.minimum(slots[:, -1] + inputs["time_to_predict"] + 1, model.config.frame_length - 1)
    assert_equal("per_track_slot", per_track, ref["per_track_slot"])
