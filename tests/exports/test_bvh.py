"""person_<id>.bvh: a BVH parser reads the skeleton and every frame, and forward kinematics gives SMPL's joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bvh import Bvh
from export_scenes import FPS, synthetic_motion, synthetic_smpl
from scipy.spatial.transform import Rotation

from lart_demo.exports.bvh import CAMERA_TO_BVH, write_bvh
from lart_demo.exports.motion import SMPL_JOINT_NAMES, SMPL_PARENTS, rest_joints


@pytest.fixture(scope="module")
def smpl(smpl_dir: Path):
    return synthetic_smpl(smpl_dir)


def _forward_kinematics(mocap: Bvh, frame: int) -> np.ndarray:
    """World positions of the 24 joints in one frame, by the BVH rules (channels applied in listed order)."""
    names = mocap.get_joints_names()
    world_r: dict[str, np.ndarray] = {}
    world_p: dict[str, np.ndarray] = {}
    for name in names:  # parents come before their children in a BVH file
        channels = mocap.joint_channels(name)
        values = mocap.frame_joint_channels(frame, name, channels)
        rot_axes = "".join(c[0] for c in channels if c.endswith("rotation"))
        angles = [v for c, v in zip(channels, values, strict=True) if c.endswith("rotation")]
        local = Rotation.from_euler(rot_axes.upper(), angles, degrees=True).as_matrix()
        offset = np.asarray(mocap.joint_offset(name), dtype=np.float64)
        parent = mocap.joint_parent(name)
        if parent is None:
            position = offset + np.array([v for c, v in zip(channels, values, strict=True) if "position" in c])
            world_r[name], world_p[name] = local, position
        else:
            world_p[name] = world_p[parent.name] + world_r[parent.name] @ offset
            world_r[name] = world_r[parent.name] @ local
    return np.stack([world_p[n] for n in SMPL_JOINT_NAMES])


def test_bvh_skeleton_and_every_frame_reproduce_smpl_joints(tmp_path: Path, smpl) -> None:
    frames = np.array([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    motion = synthetic_motion(2, frames, seed=1)
    path = write_bvh(tmp_path / "person_2.bvh", motion, smpl, FPS)
    mocap = Bvh(path.read_text())

    assert sorted(mocap.get_joints_names()) == sorted(SMPL_JOINT_NAMES)  # file order is depth-first
    for j, name in enumerate(SMPL_JOINT_NAMES):
        parent = mocap.joint_parent(name)
        assert (parent.name if parent else None) == (SMPL_JOINT_NAMES[SMPL_PARENTS[j]] if j else None)
    assert mocap.nframes == len(frames)
    assert mocap.frame_time == pytest.approx(1 / FPS, abs=1e-6)
    assert all(len(f) == 6 + 23 * 3 for f in mocap.frames)

    rest = rest_joints(smpl, motion.shape())
    for j in range(1, 24):
        expected = rest[j] - rest[SMPL_PARENTS[j]]
        assert np.allclose(mocap.joint_offset(SMPL_JOINT_NAMES[j]), expected, atol=2e-6)

    with torch.no_grad():
        out = smpl(
            torch.from_numpy(motion.global_orient[:, None]),
            torch.from_numpy(motion.body_pose),
            torch.from_numpy(motion.betas),
        )
    camera_joints = out.smplx_joints[:, :24].double().numpy() + motion.cam_t[:, None].astype(np.float64)
    for i in range(len(frames)):
        assert np.allclose(_forward_kinematics(mocap, i), camera_joints[i] @ CAMERA_TO_BVH.T, atol=1e-4)


def test_bvh_is_upright_and_in_front_of_the_camera(tmp_path: Path, smpl) -> None:
    motion = synthetic_motion(1, np.arange(5), seed=2)
    mocap = Bvh(write_bvh(tmp_path / "person_1.bvh", motion, smpl, FPS).read_text())
    joints = _forward_kinematics(mocap, 0)
    head, pelvis = joints[SMPL_JOINT_NAMES.index("head")], joints[0]
    assert head[1] > pelvis[1] + 0.2  # Y up
    assert pelvis[2] < -5  # the camera looks down -Z at a person ~8 m away


def test_frames_the_person_was_not_drawn_hold_the_last_pose(tmp_path: Path, smpl) -> None:
    motion = synthetic_motion(4, np.array([0, 1, 2, 5, 6]), seed=3)
    mocap = Bvh(write_bvh(tmp_path / "person_4.bvh", motion, smpl, FPS).read_text())
    assert mocap.nframes == 7  # frames 0..6, 1/fps apart
    assert mocap.frames[3] == mocap.frames[2] and mocap.frames[4] == mocap.frames[2]
    assert mocap.frames[5] != mocap.frames[4]
