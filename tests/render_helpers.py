"""Shared helpers for the render tests: posed synthetic SMPL bodies and a GL renderer when available."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lart_demo.models.smpl import SMPL, load_smpl
from lart_demo.render.backends import MeshRenderer, RendererChoice, create_mesh_renderer


def synthetic_smpl(smpl_dir: Path) -> SMPL:
    return load_smpl(smpl_dir / "SMPL_NEUTRAL.pkl", smpl_dir / "SMPL_to_J19.pkl")


def posed_bodies(smpl: SMPL, n: int, seed: int = 0, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, V, 3), joints (n, 44, 3)) of upright bodies (camera convention: y down) in random poses."""
    rng = np.random.default_rng(seed)
    upright = np.array([np.pi, 0.0, 0.0])  # SMPL is y-up; the OpenCV camera is y-down
    go = np.stack([cv2.Rodrigues(upright + rng.normal(0, 0.2, 3))[0] for _ in range(n)])[:, None]
    bp = np.stack([[cv2.Rodrigues(rng.normal(0, spread, 3))[0] for _ in range(23)] for _ in range(n)])
    betas = rng.normal(0, 1, (n, 10))
    with torch.no_grad():
        out = smpl(
            torch.tensor(go, dtype=torch.float32),
            torch.tensor(bp, dtype=torch.float32),
            torch.tensor(betas, dtype=torch.float32),
        )
    return out.vertices.numpy().astype(np.float64), out.joints.numpy().astype(np.float64)


_GL_CHOICE: list[RendererChoice] = []  # created once per test process (OpenGL is process-wide)


def gl_renderer() -> MeshRenderer:
    """The process's OpenGL (pyrender) renderer; skips the test where this machine has no usable OpenGL."""
    if not _GL_CHOICE:
        _GL_CHOICE.append(create_mesh_renderer("auto"))
    choice = _GL_CHOICE[0]
    if not choice.renderer.name.startswith("pyrender"):
        pytest.skip(f"no usable OpenGL here: {choice.notice}")
    return choice.renderer
