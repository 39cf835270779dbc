"""Golden phalp/hmar_appearance: HMAR flow, UV image, uv_vector, appearance code, SMPL head, UV fusion."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import torch
from golden.cases.compare import assert_close, assert_equal

from lart_demo.models.hmar import HMARConfig, fuse_uv, load_hmar


def config_from_case(case_config: dict) -> HMARConfig:
    """The case's reduced HMAR (config.json 'reduction'), everything else at the released sizes."""
    reduction = case_config.get("reduction", {})
    config = HMARConfig(
        backbone_layers=tuple(reduction.get("backbone_blocks_per_stage", (3, 4, 6, 3))),
        backbone_width_divisor=int(reduction.get("width_divisor", 1)),
    )  # the UV decoder half is optional: load_hmar drops it when the file has none
    assert config.pose_emb_dim == case_config["MODEL"]["SMPL_HEAD.IN_CHANNELS"]
    return config


def check(case_dir: pathlib.Path) -> None:
    case_config = json.loads((case_dir / "config.json").read_text())
    model = load_hmar(case_dir / "checkpoint.pth", config_from_case(case_config))
    inputs = np.load(case_dir / "inputs.npz")
    ref = np.load(case_dir / "outputs.npz")
    x = torch.from_numpy(inputs["x"])

    with torch.no_grad():
        out = model(x)
        _, skips = model.backbone(x)
        raw_mask = model.sample_uv(x, out["flow"])[:, 3]
        appe = model.encode_uv(out["uv_vector"])
        via_appearance = model.appearance(x)

    assert_close("flow", out["flow"], ref["flow"], atol=1e-5)
    assert_close("uv_image rgb", out["uv_image"][:, :3], ref["uv_image"][:, :3], atol=1e-3)
    assert_equal("uv_image mask (+1/-1, in-place quirk)", out["uv_image"][:, 3], ref["uv_image"][:, 3])
    assert_close("uv_image_raw_mask", raw_mask, ref["uv_image_raw_mask"], atol=0.25)
    assert_close("uv_vector", out["uv_vector"], ref["uv_vector"], atol=2e-4)
    assert_equal("uv_vector mask", out["uv_vector"][:, 3], ref["uv_vector"][:, 3])
    assert_close("appe", appe, ref["appe"], atol=1e-4, rtol=1e-4)
    assert_close("appearance().appe", via_appearance["appe"], ref["appe"], atol=1e-4, rtol=1e-4)
    assert_close("pose_emb", out["pose_emb"], ref["pose_emb"], atol=1e-4, rtol=1e-5)
    assert_close("backbone_x4", skips[3], ref["backbone_x4"], atol=1e-4, rtol=1e-5)
    assert_close("global_orient", out["pose_smpl"]["global_orient"], ref["pose_smpl_global_orient"], atol=1e-5)
    assert_close("body_pose", out["pose_smpl"]["body_pose"], ref["pose_smpl_body_pose"], atol=1e-5)
    assert_close("betas", out["pose_smpl"]["betas"], ref["pose_smpl_betas"], atol=1e-5)
    assert_close("pred_cam", out["pred_cam"], ref["pred_cam"], atol=1e-5)

    # Track.update UV fusion on the GOLDEN uv_vectors (old = crop 0, new = crop 1)
    conf = float(inputs["fusion_conf_new"])
    assert_close("fusion_alpha", 0.1 * conf**2, ref["fusion_alpha"], atol=1e-7)
    fused = fuse_uv(ref["uv_vector"][0], ref["uv_vector"][1], conf, alpha=0.1)
    assert fused.dtype == np.float64
    assert_close("fused_uv", fused, ref["fused_uv"], atol=1e-6)
    old_vis, new_vis = ref["uv_vector"][0, 3] == 1, ref["uv_vector"][1, 3] == 1
    counts = [old_vis & new_vis, old_vis & ~new_vis, new_vis & ~old_vis, ~(old_vis | new_vis)]
    counts = [int(c.sum()) for c in counts]
    assert_equal("fusion_counts", np.array(counts, dtype=np.int64), ref["fusion_counts"])
