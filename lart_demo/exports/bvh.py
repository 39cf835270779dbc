"""person_<id>.bvh: one person's SMPL skeleton and motion as a Biovision Hierarchy file.

Axis convention (what Blender's BVH importer expects with its defaults, forward -Z, up Y):
- the file is Y-up and right-handed, in metres: X = the camera's right, Y = up (the camera's -y),
  Z = towards the camera (the camera's -z). The camera sits at the origin looking down -Z, so a
  person standing 5 m in front of it is at Z = -5;
- the rest pose is SMPL's T-pose at this person's shape (SMPL's own frame is already Y-up, with
  +X the body's left and the body facing +Z), so joint rotations other than the root's are SMPL's
  local rotations unchanged;
- the root (pelvis) has six channels: its position (Xposition Yposition Zposition, absolute, its
  OFFSET is 0) and its rotation; every other joint has three rotation channels. Rotations are in
  degrees, in the order the CHANNELS line lists them (Zrotation Xrotation Yrotation: the joint's
  rotation matrix is Rz * Rx * Ry).

Frame 1 of the file is the person's first frame in the clip (`frame_index[0]` in
person_<id>_smpl.npz); frames where the person was not drawn repeat the last drawn pose, so every
line is 1/fps after the one before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lart_demo.atomic import atomic_write_text
from lart_demo.exports.motion import CAMERA_TO_Y_UP, SMPL_JOINT_NAMES, SMPL_PARENTS, PersonMotion, rest_joints

CAMERA_TO_BVH = CAMERA_TO_Y_UP
EULER_ORDER = "ZXY"  # intrinsic, matching the CHANNELS lines below
_ROT_CHANNELS = "Zrotation Xrotation Yrotation"
END_SITE_FRACTION = 0.5  # a leaf's end site continues its bone by half its length (gives Blender a bone tail)


def _children(parents: tuple[int, ...]) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            kids[p].append(j)
    return kids


def file_order() -> list[int]:
    """SMPL joint indices in the order the hierarchy lists them (depth first): the order of each frame's values."""
    kids = _children(SMPL_PARENTS)
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for k in kids[j]:
            visit(k)

    visit(0)
    return order


def _hierarchy(offsets: np.ndarray) -> list[str]:
    kids = _children(SMPL_PARENTS)
    lines = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        head = "ROOT" if SMPL_PARENTS[j] < 0 else "JOINT"
        lines.append(f"{pad}{head} {SMPL_JOINT_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {_xyz(offsets[j])}")
        if SMPL_PARENTS[j] < 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {_ROT_CHANNELS}")
        else:
            lines.append(f"{pad}\tCHANNELS 3 {_ROT_CHANNELS}")
        for k in kids[j]:
            joint(k, depth + 1)
        if not kids[j]:
            lines.append(f"{pad}\tEnd Site")
            lines.append(f"{pad}\t{{")
            lines.append(f"{pad}\t\tOFFSET {_xyz(offsets[j] * END_SITE_FRACTION)}")
            lines.append(f"{pad}\t}}")
        lines.append(f"{pad}}}")

    joint(0, 0)
    return lines


def _xyz(v: np.ndarray) -> str:
    return " ".join(f"{float(x):.6f}" for x in v)


def _held_positions(motion: PersonMotion) -> np.ndarray:
    """For each clip frame from the person's first to last, the motion index to show (gaps hold the last)."""
    span = np.arange(motion.frames[0], motion.frames[-1] + 1)
    return np.searchsorted(motion.frames, span, side="right") - 1


def bvh_channels(motion: PersonMotion, rest: np.ndarray) -> np.ndarray:
    """(F, 3 + 24*3) BVH motion rows: root position (metres), then each joint's Z, X, Y Euler angles (degrees)
    in the hierarchy's order."""
    idx = _held_positions(motion)
    go = motion.global_orient[idx].astype(np.float64)
    body = motion.body_pose[idx].astype(np.float64)
    root_rot = CAMERA_TO_BVH @ go  # (F, 3, 3): the body frame seen from the Y-up axes
    # SMPL rotates the root about the rest pelvis, so the posed pelvis is the rest pelvis plus the translation
    root_pos = (rest[0][None] + motion.cam_t[idx].astype(np.float64)) @ CAMERA_TO_BVH.T
    rots = np.concatenate([root_rot[:, None], body], axis=1)[:, file_order()].reshape(-1, 3, 3)
    euler = Rotation.from_matrix(rots).as_euler(EULER_ORDER, degrees=True).reshape(len(idx), 24 * 3)
    return np.concatenate([root_pos, euler], axis=1)


def bvh_text(motion: PersonMotion, smpl: object, fps: float) -> str:
    """The whole BVH file of one person (see the module docstring for axes and units)."""
    if len(motion) == 0:
        raise ValueError(f"person {motion.track_id} has no frames to write")
    rest = rest_joints(smpl, motion.shape())
    offsets = np.zeros_like(rest)
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            offsets[j] = rest[j] - rest[p]
    rows = bvh_channels(motion, rest)
    lines = _hierarchy(offsets)
    lines += ["MOTION", f"Frames: {len(rows)}", f"Frame Time: {1.0 / float(fps):.6f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_bvh(path: Path, motion: PersonMotion, smpl: object, fps: float) -> Path:
    return atomic_write_text(path, bvh_text(motion, smpl, fps))
