"""person_<id>_smpl.npz: smplx with the synthetic body rebuilds the pipeline's vertices from the AMASS-layout file."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import smplx
import torch
from export_scenes import FPS, HEIGHT, WIDTH, synthetic_motion, synthetic_smpl

from lart_demo.contracts import SmplPerson
from lart_demo.exports.smpl_npz import write_smpl_npz
from lart_demo.render.video import pose_people


@pytest.fixture(scope="module")
def smplx_body(smpl_dir: Path) -> smplx.SMPL:
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a notice about the 10-beta model
        return smplx.SMPL(model_path=str(smpl_dir), gender="neutral")


def test_npz_has_the_amass_layout(tmp_path: Path) -> None:
    frames = np.array([4, 5, 6, 9])
    motion = synthetic_motion(3, frames, seed=4, same_shape=False)
    with np.load(write_smpl_npz(tmp_path / "person_3_smpl.npz", motion, FPS, WIDTH, HEIGHT)) as data:
        assert data["poses"].shape == (4, 72) and data["poses"].dtype == np.float32
        assert data["betas"].shape == (10,)
        assert data["trans"].shape == (4, 3)
        assert float(data["mocap_framerate"]) == FPS
        assert str(data["gender"]) == "neutral"
        assert data["frame_index"].tolist() == frames.tolist()
        assert data["has_detection"].dtype == bool and data["has_detection"].tolist() == motion.has_detection.tolist()
        # the one shape is the mean over detected frames
        assert np.allclose(data["betas"], motion.betas[motion.has_detection].mean(0), atol=1e-6)


def test_smplx_rebuilds_the_pipeline_vertices_from_the_npz(tmp_path: Path, smpl_dir: Path, smplx_body) -> None:
    motion = synthetic_motion(7, np.arange(10, 22), seed=5, same_shape=False)
    path = write_smpl_npz(tmp_path / "person_7_smpl.npz", motion, FPS, WIDTH, HEIGHT)

    # what the pipeline draws: its SMPL layer posed per frame, plus the camera-frame translation
    smpl = synthetic_smpl(smpl_dir)
    people = [
        SmplPerson(7, motion.global_orient[i][None], motion.body_pose[i], motion.betas[i], motion.cam_t[i])
        for i in range(len(motion))
    ]
    pipeline = np.stack([p.vertices + p.cam_t[None] for p in pose_people(smpl, people)])

    with np.load(path) as data:
        poses = torch.from_numpy(data["poses"])
        with torch.no_grad():
            out = smplx_body(
                global_orient=poses[:, :3],
                body_pose=poses[:, 3:],
                betas=torch.from_numpy(data["frame_betas"]),
                transl=torch.from_numpy(data["trans"]),
            )
            one_shape = smplx_body(
                global_orient=poses[:, :3],
                body_pose=poses[:, 3:],
                betas=torch.from_numpy(data["betas"])[None].expand(len(poses), 10),
                transl=torch.from_numpy(data["trans"]),
            )
    rebuilt = out.vertices.numpy()
    assert rebuilt.shape == pipeline.shape
    assert np.abs(rebuilt - pipeline).max() < 1e-4  # metres: float32 axis-angle round trip
    # with the person's single shape the body differs only by the small per-frame shape changes
    assert np.abs(one_shape.vertices.numpy() - pipeline).max() < 0.05
