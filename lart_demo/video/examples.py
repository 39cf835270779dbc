"""The app's bundled example: a clip we generate ourselves (no third-party footage is committed).

It shows simple articulated figures walking, waving and jumping over a textured floor. Real models
will find few people in it; it exists so the example button always works offline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lart_demo.video.io import VideoWriter


@dataclass(frozen=True)
class Figure:
    x0: float  # start centre x (fraction of width)
    x1: float  # end centre x
    height: float  # fraction of frame height
    colour: tuple[int, int, int]
    jump: bool = False


FIGURES = (
    Figure(0.15, 0.45, 0.72, (220, 80, 60)),
    Figure(0.85, 0.60, 0.70, (60, 120, 220), jump=True),
    Figure(0.35, 0.30, 0.66, (70, 170, 90)),
)


def _figure_geometry(fig: Figure, t: float, size: tuple[int, int]) -> tuple[np.ndarray, dict[str, tuple]]:
    w, h = size
    cx = (fig.x0 + (fig.x1 - fig.x0) * t) * w
    tall = fig.height * h
    lift = 0.12 * tall * max(0.0, math.sin(t * 6 * math.pi)) if fig.jump else 0.0
    feet_y = 0.95 * h - lift
    top_y = feet_y - tall
    box = np.array([cx - 0.22 * tall, top_y, cx + 0.22 * tall, feet_y], dtype=np.float32)
    swing = math.sin(t * 8 * math.pi) * 0.5
    parts = {
        "head": (cx, top_y + 0.09 * tall, 0.08 * tall),
        "torso": (cx, top_y + 0.38 * tall, 0.1 * tall, 0.2 * tall),
        "arm_l": (cx - 0.1 * tall, top_y + 0.22 * tall, swing),
        "arm_r": (cx + 0.1 * tall, top_y + 0.22 * tall, -swing),
        "leg_l": (cx - 0.05 * tall, top_y + 0.58 * tall, -swing * 0.6),
        "leg_r": (cx + 0.05 * tall, top_y + 0.58 * tall, swing * 0.6),
        "tall": (tall,),
    }
    return box, parts


def _draw_figure(img: np.ndarray, fig: Figure, parts: dict[str, tuple]) -> None:
    (tall,) = parts["tall"]
    thick = max(2, int(0.05 * tall))
    hx, hy, hr = parts["head"]
    cv2.circle(img, (int(hx), int(hy)), int(hr), (230, 190, 160), -1, cv2.LINE_AA)
    tx, ty, ax, ay = parts["torso"]
    cv2.ellipse(img, (int(tx), int(ty)), (int(ax), int(ay)), 0, 0, 360, fig.colour, -1, cv2.LINE_AA)
    for name, length in (("arm_l", 0.32), ("arm_r", 0.32), ("leg_l", 0.4), ("leg_r", 0.4)):
        x, y, angle = parts[name]
        end = (int(x + math.sin(angle) * length * tall), int(y + math.cos(angle) * length * tall))
        cv2.line(img, (int(x), int(y)), end, fig.colour, thick, cv2.LINE_AA)


def _background(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), dtype=np.float32)
    img[..., 0] = 150 + 60 * ys + 10 * np.sin(xs * 20)
    img[..., 1] = 170 + 40 * ys
    img[..., 2] = 200 - 80 * ys
    return np.clip(img, 0, 255).astype(np.uint8)


def write_example_clip(path: Path, n_frames: int = 72, fps: float = 24.0, size: tuple[int, int] = (480, 320)) -> Path:
    """Write the generated example clip (H.264 mp4) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = _background(size)
    with VideoWriter(path, fps, size) as writer:
        for i in range(n_frames):
            t = i / max(n_frames - 1, 1)
            img = base.copy()
            for fig in FIGURES:
                _draw_figure(img, fig, _figure_geometry(fig, t, size)[1])
            writer.write(img)
    return path
