"""Typed records passed between stages (DESIGN.md "Stage contracts").

Conventions used by every stage:
- frames are RGB uint8 arrays (H, W, 3); modules that reproduce upstream BGR code convert locally;
- boxes are float32 xyxy in original-frame pixels unless a name says `tlwh`;
- frame indices are 0-based positions in the (possibly trimmed/resampled) clip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """People found in one frame by the detector (person class only, after NMS/threshold/size filter)."""

    boxes: np.ndarray  # (N, 4) float32 xyxy
    scores: np.ndarray  # (N,) float32
    masks: np.ndarray | None  # (N, H, W) bool; None = not known (a detector stand-in fills in box masks)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class PersonObservation:
    """One detected person in one frame, after HMR2.0 (and, during tracking, HMAR)."""

    frame_index: int
    bbox_xyxy: np.ndarray  # (4,) float32
    score: float
    center: np.ndarray  # (2,) box centre, original px
    scale: np.ndarray  # (2,) box (w, h), original px
    global_orient: np.ndarray  # (1, 3, 3)
    body_pose: np.ndarray  # (23, 3, 3)
    betas: np.ndarray  # (10,)
    pred_cam: np.ndarray  # (3,) HMR2 crop camera (s, tx, ty)
    cam_t: np.ndarray  # (3,) full-image camera translation (Tx, Ty, tz)
    joints_3d: np.ndarray  # (45, 3) body frame, no translation
    joints_2d: np.ndarray  # (90,) 2D joints in the padded-square 256 space divided by 256
    pose_vec: np.ndarray  # (229,) [go 9 | body_pose 207 | betas 10 | Tx, Ty, tz/200]
    loca: np.ndarray  # (99,) [joints_2d 90 | cam_t x3]
    mask: np.ndarray | None = None  # (H, W) bool
    crop: np.ndarray | None = None  # (4, 256, 256) float32 HMAR/HMR2 input (kept only while tracking)
    uv: np.ndarray | None = None  # (4, 256, 256) float32 HMAR uv_vector
    appe: np.ndarray | None = None  # (4096,) float32 HMAR appearance code


@dataclass
class FramePeople:
    """Everything the per-frame stage found in one frame."""

    frame_index: int
    image_size: tuple[int, int]  # (H, W)
    people: list[PersonObservation] = field(default_factory=list)


# progress(stage, done, total): stages report how far they are; total may be None when unknown.
ProgressFn = Callable[[str, int, int | None], None]


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The default progress callback: report nothing."""
