"""SMPL parameter regression shared by the models: the 6D rotation decoding and PHALP's iterative head.

- `rot6d_to_rotmat`: the 6D -> rotation matrix map every model here uses (HMR2, HMAR, LART, the pose
  predictor): Gram-Schmidt on a1 = x[0:3], a2 = x[3:6], the results are the matrix COLUMNS.
- `IEFSMPLHead`: PHALP's HMR-style SMPL head (iterative error feedback, residual updates from the SMPL mean
  parameters). Upstream HMAR, Pose_transformer_v2 and LART all build this same class, so one
  implementation keeps the released key names `fc1`, `fc2`, `decpose`, `decshape`, `deccam`, `init_*`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SMPL_BODY_JOINTS = 23  # SMPL's body joints; the heads predict one more rotation (the global orientation)
NUM_BETAS = 10
NUM_CAMERA = 3  # weak-perspective (s, tx, ty)


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3). a1 = x[0:3], a2 = x[3:6]; Gram-Schmidt; columns (b1, b2, b3)."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


class IEFSMPLHead(nn.Module):
    """HMR-style iterative regressor: SMPL 6D pose (joints + 1 rotations), 10 betas and a weak-perspective camera.

    Input: one feature vector per row (HMAR's 2048-d pooled feature, or a transformer token).
    """

    def __init__(
        self, in_dim: int, num_body_joints: int = SMPL_BODY_JOINTS, hidden: int = 1024, iterations: int = 3
    ) -> None:
        super().__init__()
        self.num_joints = num_body_joints + 1
        npose = 6 * self.num_joints
        self.iterations = iterations
        self.fc1 = nn.Linear(in_dim + npose + NUM_BETAS + NUM_CAMERA, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.decpose = nn.Linear(hidden, npose)
        self.decshape = nn.Linear(hidden, NUM_BETAS)
        self.deccam = nn.Linear(hidden, NUM_CAMERA)
        # the SMPL mean pose/shape/camera (smpl_mean_params.npz); released checkpoints carry them
        self.register_buffer("init_body_pose", torch.zeros(1, npose))
        self.register_buffer("init_betas", torch.zeros(1, NUM_BETAS))
        self.register_buffer("init_cam", torch.zeros(1, NUM_CAMERA))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, in_dim) -> global_orient (N, 1, 3, 3), body_pose (N, J, 3, 3), betas (N, 10), cam (N, 3)."""
        n = x.shape[0]
        pose = self.init_body_pose.expand(n, -1)
        betas = self.init_betas.expand(n, -1)
        cam = self.init_cam.expand(n, -1)
        for _ in range(self.iterations):
            h = F.relu(self.fc1(torch.cat([x, pose, betas, cam], 1)))
            h = F.relu(self.fc2(h))  # upstream's dropout is the identity at inference
            pose = self.decpose(h) + pose
            betas = self.decshape(h) + betas
            cam = self.deccam(h) + cam
        rotmats = rot6d_to_rotmat(pose.reshape(n, self.num_joints, 6))
        return {"global_orient": rotmats[:, :1], "body_pose": rotmats[:, 1:], "betas": betas, "cam": cam}
