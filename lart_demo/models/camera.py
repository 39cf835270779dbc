"""Crop camera -> full-image camera, and the per-person 3D quantities PHALP/LART store.

`person_3d_parameters` is the equivalent of PHALP's `HMAR.get_3d_parameters` as
`get_human_features` calls it (phalp_spec.md §4.1-§4.2): it works in PHALP's "256-space", the
zero-padded square frame (side S = max(H, W)) rescaled to 256 px, with focal length 5000.
`cam_crop_to_full` is 4D-Humans' conversion in original pixels (focal 5000/256 * max(W, H));
the two give the same translation (hmr2_spec.md §4).
"""

from __future__ import annotations

import numpy as np
import torch

from lart_demo.models.crops import CROP_SIZE, padded_square
from lart_demo.models.smpl import SMPL, with_origin_joint

FOCAL_LENGTH = 5000.0
RENDER_SIZE = 256  # PHALP cfg.render.res: the size of the padded-square "256-space"
POSE_VECTOR_DIM = 229
LOCA_VECTOR_DIM = 99


def cam_crop_to_full(
    pred_cam: torch.Tensor,
    box_center: torch.Tensor,
    box_size: torch.Tensor,
    image_wh: torch.Tensor,
    focal_length: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Full-image translation (Tx, Ty, Tz) from a square-crop camera (s, tx, ty).

    box_center (B, 2) and box_size (B,) in image pixels; image_wh (B, 2); focal defaults to
    5000/256 * max(W, H) with the principal point at the image centre.
    """
    w, h = image_wh[:, 0], image_wh[:, 1]
    if focal_length is None:
        focal_length = FOCAL_LENGTH / CROP_SIZE * torch.maximum(w, h)
    bs = box_size * pred_cam[:, 0] + 1e-9
    tz = 2 * focal_length / bs
    tx = 2 * (box_center[:, 0] - w / 2.0) / bs + pred_cam[:, 1]
    ty = 2 * (box_center[:, 1] - h / 2.0) / bs + pred_cam[:, 2]
    return torch.stack([tx, ty, tz], dim=-1)


def phalp_cam_t(pred_cam: torch.Tensor, center_offset_256: torch.Tensor, side_256: torch.Tensor) -> torch.Tensor:
    """PHALP's translation in 256-space: tz = 2f/(s*b + 1e-9); (Tx, Ty) = (tx, ty) + (c - 128) * tz / f.

    `center_offset_256` is (c - 128): upstream subtracts in float64 numpy before the float32 tensor maths, and
    doing the same keeps small offsets exact (the tracker's location term is sensitive to them).
    """
    f = FOCAL_LENGTH
    tz = 2 * f / (pred_cam[:, 0] * side_256 + 1e-9)
    txy = pred_cam[:, 1:3] + center_offset_256 * tz[:, None] / f
    return torch.cat([txy, tz[:, None]], dim=1)


def project_256(joints: torch.Tensor, cam_t: torch.Tensor) -> torch.Tensor:
    """Pinhole projection into 256-space: f*(X+T)_xy/(Z+Tz) + 128 (principal point at the centre)."""
    points = joints + cam_t[:, None, :]
    normalised = (FOCAL_LENGTH / RENDER_SIZE) * points[..., :2] / points[..., 2:]
    return (normalised + 0.5) * RENDER_SIZE


def pose_vector(
    global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor, cam_t: torch.Tensor
) -> torch.Tensor:
    """PHALP's 229-d pose vector: [global_orient 9 | body_pose 207 (row-major) | betas 10 | Tx, Ty, tz/200]."""
    b = betas.shape[0]
    camera = torch.cat([cam_t[:, :2], cam_t[:, 2:] / 200.0], dim=1)
    return torch.cat([global_orient.reshape(b, -1), body_pose.reshape(b, -1), betas, camera], dim=1)


def location_vector(joints_2d_256: torch.Tensor, cam_t: torch.Tensor) -> torch.Tensor:
    """PHALP's 99-d location embedding: [2D joints / 256 (45 x (x, y)) | cam_t | cam_t | cam_t]."""
    b = cam_t.shape[0]
    return torch.cat([joints_2d_256.reshape(b, -1) / RENDER_SIZE, cam_t, cam_t, cam_t], dim=1)


@torch.no_grad()
def person_3d_parameters(
    smpl: SMPL,
    global_orient: torch.Tensor | np.ndarray,
    body_pose: torch.Tensor | np.ndarray,
    betas: torch.Tensor | np.ndarray,
    pred_cam: torch.Tensor | np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    image_hw: tuple[int, int],
) -> dict[str, np.ndarray]:
    """Everything PHALP derives from HMR2's outputs for N people of one frame (float32 numpy).

    center (N, 2) box centres and scale (N, 2) box (w, h) in original pixels; image_hw = (H, W).
    Returns cam_t (N,3), joints_2d (N,45,2) in 256-space, joints_3d (N,45,3), pose_vec (N,229),
    loca (N,99), and the SMPL inputs as float32 arrays.
    """
    device = smpl.joint_map.device

    def tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x).to(device=device, dtype=torch.float32)

    go, bp, bt, cam = tensor(global_orient), tensor(body_pose), tensor(betas), tensor(pred_cam)
    n = cam.shape[0]
    side, left, top = padded_square(image_hw)
    ratio = 1.0 / side * RENDER_SIZE
    center = np.asarray(center, dtype=np.float64).reshape(n, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(n, 2)
    # as upstream: offsets and sizes in float64 numpy, then float32 tensors
    center_offset_256 = tensor((center + [left, top]) * ratio - RENDER_SIZE / 2.0)
    side_256 = tensor(scale.max(axis=1) * ratio)
    cam_t = phalp_cam_t(cam, center_offset_256, side_256)
    joints_3d = with_origin_joint(smpl(go.reshape(n, 1, 3, 3), bp.reshape(n, -1, 3, 3), bt).joints)
    joints_2d = project_256(joints_3d, cam_t)
    result = {
        "cam_t": cam_t,
        "joints_2d": joints_2d,
        "joints_3d": joints_3d,
        "pose_vec": pose_vector(go, bp, bt, cam_t),
        "loca": location_vector(joints_2d, cam_t),
        "global_orient": go.reshape(n, 1, 3, 3),
        "body_pose": bp.reshape(n, -1, 3, 3),
        "betas": bt,
        "pred_cam": cam,
    }
    return {k: v.float().cpu().numpy() for k, v in result.items()}
