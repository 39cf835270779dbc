"""PHALP crop geometry and the crop-camera -> full-image camera conversions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lart_demo.models.camera import (
    FOCAL_LENGTH,
    cam_crop_to_full,
    location_vector,
    person_3d_parameters,
    pose_vector,
)
from lart_demo.models.crops import RGB_MEAN, RGB_STD, crop_affine, padded_square, person_crop
from lart_demo.models.smpl import load_smpl


def test_affine_maps_box_centre_and_edges() -> None:
    matrix = crop_affine(np.array([100.5, 80.25]), 50.0)
    points = np.array([[100.5, 80.25, 1.0], [125.5, 80.25, 1.0], [100.5, 55.25, 1.0]])
    np.testing.assert_allclose(points @ matrix.T, [[128, 128], [256, 128], [128, 0]], atol=1e-3)


def test_crop_content_border_and_mask() -> None:
    image = np.zeros((120, 200, 3), dtype=np.uint8)
    image[40:80, 90:110] = (200, 100, 50)  # an RGB block in the middle of the box
    mask = np.zeros((120, 200), dtype=bool)
    mask[40:80, 90:110] = True
    box = np.array([80.0, 20.0, 120.0, 100.0])  # 40 x 80 -> square side 80 centred at (100, 60)
    crop = person_crop(image, box, mask)
    assert crop.shape == (4, 256, 256) and crop.dtype == np.float32
    centre = crop[:, 128, 128]
    np.testing.assert_allclose(centre[:3], (np.array([200, 100, 50]) - RGB_MEAN) / RGB_STD, rtol=1e-6)
    assert centre[3] == 255.0
    # zero pixels (inside the image, outside the block) normalise to -mean/std, mask 0
    np.testing.assert_allclose(crop[:3, 10, 128], -RGB_MEAN / RGB_STD, rtol=1e-6)
    assert crop[3].min() == 0.0 and crop[3].max() == 255.0
    assert person_crop(image, box)[3].max() == 0.0


def test_crop_outside_the_image_is_black() -> None:
    image = np.full((50, 50, 3), 255, dtype=np.uint8)
    crop = person_crop(image, np.array([-100.0, -100.0, -60.0, -60.0]))
    np.testing.assert_allclose(crop[:3, 128, 128], -RGB_MEAN / RGB_STD, rtol=1e-6)


def test_padded_square() -> None:
    assert padded_square((288, 398)) == (398, 0, 55)
    assert padded_square((1088, 720)) == (1088, 184, 0)


def test_phalp_camera_equals_4dhumans_full_image_camera(smpl_dir: Path) -> None:
    smpl = load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")
    gen = torch.Generator().manual_seed(0)
    n, (h, w) = 5, (288, 398)
    pred_cam = torch.stack(
        [0.5 + torch.rand(n, generator=gen), 0.1 * torch.randn(n, generator=gen), 0.1 * torch.randn(n, generator=gen)],
        dim=1,
    )
    center = np.stack([np.linspace(50, 350, n), np.linspace(60, 230, n)], axis=1)
    scale = np.stack([np.linspace(40, 120, n), np.linspace(100, 250, n)], axis=1)
    eye = torch.eye(3)
    go, bp = eye.expand(n, 1, 3, 3), eye.expand(n, 23, 3, 3)
    params = person_3d_parameters(smpl, go, bp, torch.zeros(n, 10), pred_cam, center, scale, (h, w))
    full = cam_crop_to_full(
        pred_cam, torch.tensor(center).float(), torch.tensor(scale.max(1)).float(), torch.tensor([[w, h]] * n).float()
    )
    np.testing.assert_allclose(params["cam_t"], full.numpy(), rtol=1e-5)
    # the origin joint projects to the person's location f*(Tx, Ty)/tz + 128 in 256-space
    cam_t = params["cam_t"]
    np.testing.assert_allclose(params["joints_2d"][:, 44], FOCAL_LENGTH * cam_t[:, :2] / cam_t[:, 2:] + 128, rtol=1e-5)
    assert params["joints_3d"].shape == (n, 45, 3) and not params["joints_3d"][:, 44].any()
    assert params["pose_vec"].shape == (n, 229) and params["loca"].shape == (n, 99)


def test_embedding_layouts() -> None:
    go = torch.arange(9.0).reshape(1, 1, 3, 3)
    bp = torch.arange(207.0).reshape(1, 23, 3, 3) + 100
    betas = torch.arange(10.0)[None] + 1000
    cam_t = torch.tensor([[1.0, 2.0, 400.0]])
    vec = pose_vector(go, bp, betas, cam_t)[0]
    assert vec[:9].tolist() == list(range(9))  # row-major rotation matrix
    assert vec[9:216].tolist() == [v + 100.0 for v in range(207)]
    assert vec[216:226].tolist() == [v + 1000.0 for v in range(10)]
    assert vec[226:].tolist() == [1.0, 2.0, 2.0]  # tz / 200
    joints = torch.arange(90.0).reshape(1, 45, 2)
    loca = location_vector(joints, cam_t)[0]
    assert loca[:90].tolist() == pytest.approx([v / 256 for v in range(90)])
    assert loca[90:].tolist() == [1.0, 2.0, 400.0] * 3
