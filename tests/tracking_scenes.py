"""Scripted people for tracker tests: observations whose location, depth, pose and texture we choose.

Each person has a fixed random pose, a fixed random UV texture and a path (normalised 256-space root
position per frame); observations carry everything `PersonObservation` holds, consistent with PHALP's
camera model (f = 5000 in the 256-space of a padded square frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lart_demo.contracts import FramePeople, PersonObservation

FOCAL = 5000.0
RES = 256.0


@dataclass
class ScriptedPerson:
    name: str
    pose: np.ndarray  # (226,) rotations + betas (the location part is added per frame)
    uv: np.ndarray  # (4, S, S): rgb + visibility
    joint_offsets: np.ndarray  # (45, 2) 2D joints around the root (joint 44 = root itself)

    @classmethod
    def random(cls, name: str, seed: int, uv_size: int = 256) -> ScriptedPerson:
        rng = np.random.default_rng(seed)
        pose = rng.normal(0.0, 0.3, size=226).astype(np.float32)
        uv = np.ones((4, uv_size, uv_size), dtype=np.float32)
        uv[:3] = rng.normal(0.0, 0.4, size=(3, 1, 1)) + rng.normal(0.0, 0.05, size=(3, uv_size, uv_size))
        uv[3, : uv_size // 4] = -1.0  # part of the body unseen
        uv[:3, : uv_size // 4] = 0.0
        offsets = rng.normal(0.0, 0.03, size=(45, 2)).astype(np.float32)
        offsets[44] = 0.0
        return cls(name, pose, uv.astype(np.float32), offsets)

    def observe(
        self,
        frame: int,
        x: float,
        y: float,
        depth: float,
        image_hw: tuple[int, int],
        rng: np.random.Generator,
        score: float = 0.95,
    ) -> PersonObservation:
        """This person at root (x, y) (normalised 256-space) and depth `depth`, with a little noise."""
        h, w = image_hw
        side = max(h, w)
        x += rng.normal(0.0, 0.002)
        y += rng.normal(0.0, 0.002)
        cam_t = np.array([(x - 0.5) * depth / FOCAL * RES, (y - 0.5) * depth / FOCAL * RES, depth], dtype=np.float32)
        joints_2d = (self.joint_offsets + np.array([x, y], dtype=np.float32)).astype(np.float32)
        loca = np.concatenate([joints_2d.reshape(90), cam_t, cam_t, cam_t]).astype(np.float32)
        pose_vec = np.concatenate([self.pose + rng.normal(0.0, 0.01, size=226), cam_t[:2], cam_t[2:] / 200.0]).astype(
            np.float32
        )
        # a box around the root in original pixels (the padded square is centred on the frame)
        cx = x * side - (side - w) / 2
        cy = y * side - (side - h) / 2
        bw, bh = 120.0, 260.0
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dtype=np.float32)
        rot = np.tile(np.eye(3, dtype=np.float32), (24, 1, 1))
        return PersonObservation(
            frame_index=frame,
            bbox_xyxy=box,
            score=score,
            center=np.array([cx, cy], dtype=np.float32),
            scale=np.array([bw, bh], dtype=np.float32),
            global_orient=rot[:1],
            body_pose=rot[1:],
            betas=self.pose[216:226].copy(),
            pred_cam=np.array([1.0, 0.0, 0.0], dtype=np.float32),
            cam_t=cam_t,
            joints_3d=np.zeros((45, 3), dtype=np.float32),
            joints_2d=joints_2d.reshape(90),
            pose_vec=pose_vec,
            loca=loca,
            mask=None,
            uv=self.uv.copy(),
            appe=None,
        )


def scene_frames(
    people: dict[str, ScriptedPerson],
    paths: dict[str, dict[int, tuple[float, float, float]]],
    n_frames: int,
    image_hw: tuple[int, int] = (720, 1280),
    seed: int = 0,
) -> tuple[list[FramePeople], list[list[str]]]:
    """Frames with every person whose path has an entry for that frame; also who is who, per frame."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for t in range(n_frames):
        present = [name for name in people if t in paths[name]]
        obs = [people[name].observe(t, *paths[name][t], image_hw, rng) for name in present]
        frames.append(FramePeople(frame_index=t, image_size=image_hw, people=obs))
        truth.append(present)
    return frames, truth
