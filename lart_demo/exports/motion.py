"""Each person's body over time, gathered from the per-frame people the renderer draws.

The exports (BVH, AMASS npz, the 3D view) all need one person's SMPL parameters as arrays over that
person's frames; the pipeline hands them over per frame (`render.video.SmplPerson`), as drawn: the
detection's own body where the person was detected, LART's in-filled body where not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lart_demo.contracts import SmplPerson

# SMPL's 24 skeleton joints in model order, and the parent of each (the root's is -1)
SMPL_JOINT_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# OpenCV camera axes (x right, y down, z forward) -> the Y-up axes of BVH and glTF (z towards the camera)
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])


@dataclass
class PersonMotion:
    """One person's SMPL body in every frame where the pipeline drew them (ascending frames)."""

    track_id: int
    frames: np.ndarray  # (N,) int64 clip frame indices, strictly ascending (gaps possible)
    has_detection: np.ndarray  # (N,) bool: False where LART in-filled the body
    global_orient: np.ndarray  # (N, 3, 3) rotation matrices, camera frame
    body_pose: np.ndarray  # (N, 23, 3, 3) rotation matrices, relative to the parent joint
    betas: np.ndarray  # (N, 10) per-frame shape, as drawn
    cam_t: np.ndarray  # (N, 3) camera-frame translation of the body origin (OpenCV axes), metres

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def shape(self) -> np.ndarray:
        """(10,) the person's one body shape: the mean over detected frames (all frames if none were)."""
        rows = self.betas[self.has_detection] if self.has_detection.any() else self.betas
        return rows.mean(axis=0).astype(np.float32)

    def position(self, frame: int) -> int | None:
        """Index of clip frame `frame` in this motion, or None when the person is not drawn there."""
        i = int(np.searchsorted(self.frames, frame))
        return i if i < len(self.frames) and self.frames[i] == frame else None


def motions_from_frames(people_by_frame: Mapping[int, Sequence[SmplPerson]]) -> dict[int, PersonMotion]:
    """Per-frame people (frame -> people drawn there) regrouped into one `PersonMotion` per track id."""
    rows: dict[int, list[tuple[int, SmplPerson]]] = {}
    for frame, people in people_by_frame.items():
        for person in people:
            rows.setdefault(int(person.track_id), []).append((int(frame), person))
    motions: dict[int, PersonMotion] = {}
    for tid in sorted(rows):
        items = sorted(rows[tid], key=lambda r: r[0])
        motions[tid] = PersonMotion(
            track_id=tid,
            frames=np.array([f for f, _ in items], dtype=np.int64),
            has_detection=np.array([not p.is_ghost for _, p in items], dtype=bool),
            global_orient=np.stack([np.asarray(p.global_orient, np.float32).reshape(3, 3) for _, p in items]),
            body_pose=np.stack([np.asarray(p.body_pose, np.float32).reshape(23, 3, 3) for _, p in items]),
            betas=np.stack([np.asarray(p.betas, np.float32).reshape(10) for _, p in items]),
            cam_t=np.stack([np.asarray(p.cam_t, np.float32).reshape(3) for _, p in items]),
        )
    return motions


def rest_joints(smpl: object, betas: np.ndarray) -> np.ndarray:
    """(24, 3) SMPL skeleton joints in the rest pose (T-pose, body frame) for one shape `betas` (10,)."""
    import torch  # only the exports that need the body model pay for torch here

    eye = torch.eye(3).expand(1, 24, 3, 3)
    params = [*smpl.parameters(), *smpl.buffers()] if isinstance(smpl, torch.nn.Module) else []
    device = params[0].device if params else torch.device("cpu")
    with torch.no_grad():
        out = smpl(
            eye[:, :1].to(device),
            eye[:, 1:].to(device),
            torch.as_tensor(np.asarray(betas, np.float32).reshape(1, 10), device=device),
        )
    return out.smplx_joints[0, :24].double().cpu().numpy()
