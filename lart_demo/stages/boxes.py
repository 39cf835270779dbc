"""Bring-your-own person boxes: a JSON file replaces the detector (PHALP's ground-truth box path).

Format (frame numbers are 0-based frames of the analysed clip; coordinates are source-video pixels):

    {"frames": {"0": [[x1, y1, x2, y2, score], ...], "1": [...], ...}}

A score may be omitted (1.0 is used). Boxes are scaled to the analysed frame size when the clip was
downscaled; masks are the boxes themselves (HMAR's mask channel then covers the whole box).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lart_demo.contracts import Detections
from lart_demo.errors import InputError


def read_boxes_file(path: Path, scale: tuple[float, float] = (1.0, 1.0)) -> dict[int, Detections]:
    """Per clip frame, the given boxes as `Detections` (masks are filled in by the detector stand-in)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Boxes file not found: {path}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} is not a JSON boxes file: {exc}.") from exc
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, dict):
        raise InputError(f'{path.name} needs a top-level "frames" object mapping frame numbers to box lists.')
    sx, sy = scale
    out: dict[int, Detections] = {}
    for key, rows in frames.items():
        try:
            index = int(key)
            boxes = [[float(v) for v in row] for row in rows]
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{path.name}: frame {key!r} must map to a list of [x1, y1, x2, y2(, score)] rows."
            ) from exc
        if index < 0 or any(len(b) not in (4, 5) for b in boxes):
            raise InputError(f"{path.name}: frame {key!r} must map to a list of [x1, y1, x2, y2(, score)] rows.")
        arr = np.array([b[:4] for b in boxes], dtype=np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy], np.float32)
        if np.any(arr[:, 2] <= arr[:, 0]) or np.any(arr[:, 3] <= arr[:, 1]):
            raise InputError(f"{path.name}: frame {key}: every box needs x2 > x1 and y2 > y1.")
        scores = np.array([b[4] if len(b) == 5 else 1.0 for b in boxes], dtype=np.float32)
        out[index] = Detections(arr, scores, None)
    return out
