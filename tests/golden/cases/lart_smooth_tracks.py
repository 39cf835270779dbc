"""Golden lart/smooth_tracks: one track through LART's windowed inference, heads and demo labels.

Builds LART from the case's config.json, loads checkpoint.ckpt through the product loader (`load_lart`)
and runs `predict_actions`; tolerances from the case README (tokens/logits/pose_camera atol = rtol =
1e-4, probabilities atol 1e-5, top-3 and label strings exact).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from golden.cases.compare import assert_close, assert_equal
from track_factory import lart_track

from lart_demo.labels import DEFAULT_CLASS_MAPPING, ActionLabels
from lart_demo.models.lart import load_lart
from lart_demo.stages.actions import normalisation_from_mean_std, plan_windows, predict_actions, window_masks

TRACK_KEYS = ("pose_shape", "3d_joints", "camera", "has_detection", "fid", "apperance_emb")


def _labels_from_case(config: dict) -> ActionLabels:
    mapping = config["ava_class_mapping_assumed"]
    ids = tuple(int(mapping[str(i + 1)]) for i in range(len(mapping)))
    names = {int(k): v for k, v in config["ava_display_names"].items()}
    return ActionLabels(class_ids=ids, display_names=names, source="golden config.json")


def check(case_dir: Path) -> None:
    config = json.loads((case_dir / "config.json").read_text())
    inputs = np.load(case_dir / "inputs.npz")
    ref = np.load(case_dir / "outputs.npz")
    (checkpoint,) = sorted(case_dir.glob("checkpoint.*"))
    model = load_lart(checkpoint, case_dir / "config.json")
    labels = _labels_from_case(config)

    # our label table is the same factual data as the reference's
    assert_equal("ava_class_ids", np.asarray(DEFAULT_CLASS_MAPPING), ref["ava_class_ids"])
    assert_equal("ava_display_names", np.asarray(ActionLabels().display_names_by_index()), ref["ava_display_names"])

    norm = normalisation_from_mean_std(inputs["mean_std"])
    assert_equal("mean229", norm.mean, ref["mean229"])
    assert_equal("std229", norm.std, ref["std229"])

    step, window = config["smooth_tracks"]["step"], config["smooth_tracks"]["window"]
    track = {k: inputs[k] for k in TRACK_KEYS}
    length = track["pose_shape"].shape[0]
    spans = plan_windows(length, step, window)
    assert_equal("window_w", [s.step_start for s in spans], ref["window_w"])
    assert_equal("window_start", [s.start for s in spans], ref["window_start"])
    assert_equal("window_end", [s.end for s in spans], ref["window_end"])
    has_detection = track["has_detection"].reshape(-1) > 0
    masks = window_masks(has_detection, spans, model.config.frame_length)
    assert_equal("window_mask_after", masks.astype(np.float32), ref["window_mask_after"])
    src_window = np.concatenate([np.full(s.kept, i) for i, s in enumerate(spans)])
    src_slot = np.concatenate([np.arange(s.kept_slot, s.kept_slot + s.kept) for s in spans])
    assert_equal("token_src_window", src_window, ref["token_src_window"])
    assert_equal("token_src_slot", src_slot, ref["token_src_slot"])

    typed = lart_track(
        7,
        pose_shape=track["pose_shape"],
        joints_3d=track["3d_joints"],
        camera=track["camera"],
        has_detection=track["has_detection"],
        frame_index=track["fid"],
        appearance=track["apperance_emb"],
    )
    out = predict_actions({7: typed}, model, inputs["mean_std"], labels=labels, step=step, window=window)[7]
    assert_close("tokens", out.tokens, ref["tokens"], atol=1e-4, rtol=1e-4)
    assert_close("ava_logits", out.logits, ref["ava_logits"], atol=1e-4, rtol=1e-4)
    assert_close("ava_probs", out.probs, ref["ava_probs"], atol=1e-5)
    assert_close("pose_camera", out.pose_camera, ref["pose_camera"], atol=1e-4, rtol=1e-4)
    assert_close("cam_smoothed", out.location, ref["cam_smoothed"], atol=1e-4, rtol=1e-4)
    assert_equal("top3_index", out.top_index, ref["top3_index"])
    assert_equal("top3_ava_id", out.top_ava_id, ref["top3_ava_id"])
    assert_close("top3_prob", out.top_prob, ref["top3_prob"], atol=1e-5)
    assert_equal("top3_labels", np.asarray(out.top_labels), ref["top3_labels"])
    assert_equal("frame_index", out.frame_index, track["fid"].reshape(-1).astype(np.int64))
