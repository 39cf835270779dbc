"""Synthetic inputs for the export tests: people moving in front of the camera, and a Result around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lart_demo.contracts import ClipMeta, Result, TrackResult
from lart_demo.exports.motion import PersonMotion
from lart_demo.labels import AVA_ACTION_NAMES

FPS = 25.0
N_FRAMES = 60
WIDTH, HEIGHT = 320, 240


def synthetic_smpl(smpl_dir: Path):
    """The pipeline's SMPL layer on the synthetic (not licensed) body."""
    from lart_demo.models.smpl import load_smpl

    return load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")


def synthetic_motion(track_id: int, frames: np.ndarray, seed: int = 0, same_shape: bool = True) -> PersonMotion:
    """An upright person (HMR's 180-degree flip about x) swinging every joint by up to ~0.6 rad."""
    rng = np.random.default_rng(seed)
    n = len(frames)
    flip = Rotation.from_euler("x", 180, degrees=True)
    turn = Rotation.from_rotvec(rng.normal(0, 0.4, (n, 3)))
    go = (flip * turn).as_matrix().astype(np.float32)
    body = Rotation.from_rotvec(rng.normal(0, 0.35, (n * 23, 3))).as_matrix().reshape(n, 23, 3, 3)
    base = rng.normal(0, 0.8, 10)
    betas = np.tile(base, (n, 1)) if same_shape else base + rng.normal(0, 0.1, (n, 10))
    cam_t = np.stack([0.3 * np.sin(np.arange(n) / 9), 0.2 + 0.01 * np.arange(n) / n, 8.0 + np.arange(n) / n], 1)
    has = np.ones(n, dtype=bool)
    has[n // 3 : n // 3 + 2] = False
    return PersonMotion(
        track_id=track_id,
        frames=np.asarray(frames, dtype=np.int64),
        has_detection=has,
        global_orient=go,
        body_pose=body.astype(np.float32),
        betas=betas.astype(np.float32),
        cam_t=cam_t.astype(np.float32),
    )


def synthetic_result(tracks: dict[int, tuple[np.ndarray, np.ndarray]], random_weights: bool = False) -> Result:
    """A Result over N_FRAMES frames; `tracks` maps track id -> (frames, (T, 4) probabilities of 4 actions)."""
    ava_ids = [10, 7, 12, 14]  # run, jump, stand, walk
    names = ["run", "jump", "stand", "walk"]
    track_results = []
    for tid, (frames, probs) in tracks.items():
        frames = np.asarray(frames, dtype=np.int64)
        boxes = np.stack([np.array([20.0 + f, 30.0, 120.0 + f, 230.0]) for f in frames]).astype(np.float32)
        track_results.append(
            TrackResult(
                track_id=tid,
                frames=frames,
                has_detection=np.ones(len(frames), bool),
                boxes_xyxy=boxes,
                color_index=tid,
                action_probs=np.asarray(probs, np.float32),
            )
        )
    return Result(
        clip=ClipMeta(
            name="dance party.mp4",
            source="upload",
            fps=FPS,
            n_frames=N_FRAMES,
            width=WIDTH,
            height=HEIGHT,
            duration_s=N_FRAMES / FPS,
        ),
        tracks=track_results,
        action_names=names,
        action_ava_ids=ava_ids,
        random_weights=random_weights,
    )


assert all(i in AVA_ACTION_NAMES for i in (10, 7, 12, 14))
