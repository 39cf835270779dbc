"""`Track`s for stage tests and golden adapters that only have LART's inputs (PHALP fast-track arrays)."""

from __future__ import annotations

import numpy as np

from lart_demo.contracts import Track


def lart_track(
    track_id: int,
    pose_shape: np.ndarray,
    joints_3d: np.ndarray,
    camera: np.ndarray,
    has_detection: np.ndarray,
    frame_index: np.ndarray | None = None,
    appearance: np.ndarray | None = None,
) -> Track:
    """A `Track` from LART's inputs in any fast-track shape ((T, 1, 229), (T, 1, 45, 3), ...); the body,
    box and camera fields LART does not read are zeros, every frame is listed."""
    n = int(np.asarray(has_detection).reshape(-1).shape[0])
    return Track(
        track_id=track_id,
        frame_index=np.arange(n, dtype=np.int64)
        if frame_index is None
        else np.asarray(frame_index).reshape(n).astype(np.int64),
        has_detection=np.asarray(has_detection).reshape(n) > 0,
        listed=np.ones(n, bool),
        boxes_tlwh=np.zeros((n, 4)),
        box_conf=np.zeros(n),
        global_orient=np.zeros((n, 1, 3, 3), np.float32),
        body_pose=np.zeros((n, 23, 3, 3), np.float32),
        betas=np.zeros((n, 10), np.float32),
        cam_t=np.zeros((n, 3), np.float32),
        camera_bbox=np.zeros((n, 3)),
        joints_3d=np.asarray(joints_3d, dtype=np.float64).reshape(n, 45, 3),
        camera=np.asarray(camera, dtype=np.float64).reshape(n, 3),
        pose_shape=np.asarray(pose_shape, dtype=np.float64).reshape(n, 229),
        appearance=None if appearance is None else np.asarray(appearance, dtype=np.float32).reshape(n, -1),
    )
