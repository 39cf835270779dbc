"""The full-image pinhole camera under which HMR2/PHALP translations place a mesh on the person.

PHALP stores `cam_t = (Tx, Ty, tz)` in a "256-space": the frame zero-padded to a square of side
S = max(H, W) and scaled to 256 px, with focal length 5000 and the principal point at the square's
centre (phalp_spec.md §4.1, hmr2_spec.md §4). Scaling that square back to S px keeps the translation
and multiplies the focal length by S/256; removing the padding shifts the principal point by the
padding offsets. Everything here uses continuous pixel coordinates: pixel (i, j) covers
[i, i+1) x [j, j+1), so its centre is at i + 0.5 (the OpenGL window convention pyrender follows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_FOCAL_LENGTH = 5000.0  # HMR2 EXTRA.FOCAL_LENGTH
DEFAULT_MODEL_IMG_SIZE = 256  # HMR2/PHALP render.res: the square the focal length refers to


@dataclass(frozen=True)
class FrameCamera:
    """Intrinsics of one output frame (pixels, continuous coordinates, camera looks down +Z, y down)."""

    width: int
    height: int
    focal: float
    cx: float
    cy: float

    def scaled(self, factor: float) -> FrameCamera:
        """The same view rendered `factor` times larger (or smaller) in each direction."""
        return FrameCamera(
            width=round(self.width * factor),
            height=round(self.height * factor),
            focal=self.focal * factor,
            cx=self.cx * factor,
            cy=self.cy * factor,
        )


def frame_camera(
    height: int,
    width: int,
    focal_length: float = DEFAULT_FOCAL_LENGTH,
    model_img_size: int = DEFAULT_MODEL_IMG_SIZE,
) -> FrameCamera:
    """The camera of an H x W frame for translations in PHALP's padded-square 256-space convention."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    side = max(height, width)
    top = (side - height) // 2  # integer padding offsets, exactly as the padded square is built
    left = (side - width) // 2
    return FrameCamera(
        width=int(width),
        height=int(height),
        focal=focal_length * side / model_img_size,
        cx=side / 2.0 - left,
        cy=side / 2.0 - top,
    )


def project(points_cam: np.ndarray, camera: FrameCamera) -> np.ndarray:
    """Perspective projection of camera-frame points (N, 3) to continuous pixel coordinates (N, 2)."""
    pts = np.asarray(points_cam, dtype=np.float64)
    z = np.maximum(pts[:, 2:3], 1e-9)  # points behind the camera are culled elsewhere; avoid inf here
    return pts[:, :2] * (camera.focal / z) + np.array([camera.cx, camera.cy])
