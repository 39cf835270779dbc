"""person_<id>_smpl.npz: one person's SMPL parameters in the AMASS layout (numpy .npz, no pickles).

Keys (N = the frames where the person was drawn, listed in `frame_index`):
- `poses` (N, 72) float32: axis-angle, the root (global orient) then the 23 body joints;
- `betas` (10,) float32: the person's shape (mean over the frames with a detection);
- `trans` (N, 3) float32: translation of the body origin in metres;
- `mocap_framerate` () float: the clip's fps; `gender` () str: 'neutral';
- `frame_index` (N,) int64: clip frame of each row; `has_detection` (N,) bool: False where LART in-filled the body;
- `frame_betas` (N, 10) float32: the per-frame shape the renderer drew (HMR2.0 estimates shape every frame);
- `coordinate_frame` () str, `camera_focal_px` () float, `camera_center_px` (2,), `image_size` (2,) [width, height]:
  the camera, so vertices can be projected onto the video.

Coordinates are the camera's (OpenCV axes: x right, y down, z forward), unlike AMASS's z-up world:
`smplx.SMPL(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=frame_betas, transl=trans)`
gives the vertices the video shows; with `betas` instead of `frame_betas`, the one-shape body of the BVH.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lart_demo.atomic import atomic_write_bytes
from lart_demo.exports.motion import PersonMotion
from lart_demo.render.camera import frame_camera

COORDINATE_FRAME = "camera (OpenCV axes: x right, y down, z forward), metres"


def axis_angle_poses(motion: PersonMotion) -> np.ndarray:
    """(N, 72) axis-angle vectors of the root and the 23 body joints."""
    rots = np.concatenate([motion.global_orient[:, None], motion.body_pose], axis=1).astype(np.float64)
    return Rotation.from_matrix(rots.reshape(-1, 3, 3)).as_rotvec().reshape(len(motion), 72).astype(np.float32)


def smpl_npz_arrays(motion: PersonMotion, fps: float, width: int, height: int) -> dict[str, np.ndarray]:
    camera = frame_camera(height, width)
    return {
        "poses": axis_angle_poses(motion),
        "betas": motion.shape(),
        "trans": motion.cam_t.astype(np.float32),
        "mocap_framerate": np.array(float(fps)),
        "gender": np.array("neutral"),
        "frame_index": motion.frames.astype(np.int64),
        "has_detection": motion.has_detection.astype(bool),
        "frame_betas": motion.betas.astype(np.float32),
        "track_id": np.array(int(motion.track_id)),
        "coordinate_frame": np.array(COORDINATE_FRAME),
        "camera_focal_px": np.array(camera.focal),
        "camera_center_px": np.array([camera.cx, camera.cy]),
        "image_size": np.array([int(width), int(height)]),
    }


def write_smpl_npz(path: Path, motion: PersonMotion, fps: float, width: int, height: int) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **smpl_npz_arrays(motion, fps, width, height))
    return atomic_write_bytes(path, buffer.getvalue())
