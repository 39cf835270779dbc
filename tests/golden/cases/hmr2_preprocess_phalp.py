"""Golden hmr2/preprocess_phalp: PHALP's crop, get_3d_parameters, embeddings and HMR2 on the crops."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from golden.cases.compare import assert_close, assert_equal, assert_rel
from golden.cases.hmr2_forward import smpl_files

from lart_demo.models.camera import cam_crop_to_full, person_3d_parameters
from lart_demo.models.crops import CROP_SIZE, box_center_scale, padded_square, person_crops
from lart_demo.models.hmr2 import load_hmr2
from lart_demo.models.smpl import load_smpl

TOL = 1e-4  # README: relative 1e-4 for cameras, joints, embeddings and hmr2_*


def check(case_dir: Path) -> None:
    inputs = np.load(case_dir / "inputs.npz")
    expected = np.load(case_dir / "outputs.npz")
    image_rgb = np.ascontiguousarray(inputs["image_bgr"][:, :, ::-1])  # our frames are RGB
    boxes, masks = inputs["boxes_xyxy"], inputs["masks"]
    h, w = image_rgb.shape[:2]

    crops = person_crops(image_rgb, boxes, masks)
    made_with = json.loads((case_dir / "config.json").read_text())["preprocessing"].get("opencv_version")
    if made_with == cv2.__version__:
        assert_equal("crops", crops, expected["crops"])  # README: the same OpenCV warp matches exactly
    else:  # README: another warp implementation may be one uint8 level off on a few pixels
        assert_close("crops RGB", crops[:, :3], expected["crops"][:, :3], atol=1 / 57 + 1e-5)
        assert_close("crops mask", crops[:, 3], expected["crops"][:, 3], atol=1.0001)
        mean_err = float(np.abs(crops - expected["crops"]).mean())
        assert mean_err <= 1e-3, f"crops: mean |x - ref| {mean_err:.3g} > 1e-3"

    centers, scales = zip(*(box_center_scale(b) for b in boxes), strict=True)
    assert_equal("center", np.stack(centers).astype(np.float32), expected["center"])
    assert_equal("scale", np.stack(scales).astype(np.float32), expected["scale"])
    side, left, top = padded_square((h, w))
    assert_equal("measurments", np.array([h, w, side, left, top], dtype=np.int64), expected["measurments"])
    assert_equal("ratio", np.float32(1.0 / side * CROP_SIZE), expected["ratio"])

    smpl = load_smpl(*smpl_files(case_dir))
    params = person_3d_parameters(
        smpl,
        inputs["pred_global_orient"],
        inputs["pred_body_pose"],
        inputs["pred_betas"],
        inputs["pred_cam"],
        np.stack(centers),
        np.stack(scales),
        (h, w),
    )
    for ours, theirs in [
        ("cam_t", "cam_t"),
        ("joints_2d", "joints_2d"),
        ("joints_3d", "joints_3d"),
        ("pose_vec", "pose_emb"),
        ("loca", "loca_emb"),
    ]:
        assert_rel(theirs, params[ours], expected[theirs], TOL)

    full = cam_crop_to_full(
        torch.from_numpy(inputs["pred_cam"]),
        torch.from_numpy(np.stack(centers)).float(),
        torch.from_numpy(np.stack(scales).max(axis=1)).float(),
        torch.tensor([[w, h]] * len(boxes)).float(),
    )
    assert_rel("cam_t_full_4dhumans", full, expected["cam_t_full_4dhumans"], TOL)

    model = load_hmr2(case_dir / "checkpoint.ckpt", case_dir / "config.json")
    with torch.no_grad():
        out = model(torch.from_numpy(expected["crops"][:, :3].copy()))
    assert_rel("hmr2_pred_cam", out["pred_cam"], expected["hmr2_pred_cam"], TOL)
    assert_rel("hmr2_global_orient", out["global_orient"], expected["hmr2_global_orient"], TOL)
    assert_rel("hmr2_body_pose", out["body_pose"], expected["hmr2_body_pose"], TOL)
    assert_rel("hmr2_betas", out["betas"], expected["hmr2_betas"], TOL)
