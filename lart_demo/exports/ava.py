"""ava_predictions.csv: the run's actions in the AVA evaluation format, so AVA's own tools read it.

One row per (keyframe, person box, action), no header, like AVA's files:
    video_id, timestamp, x1, y1, x2, y2, action_id, score
- keyframes are at 1 Hz: every whole second of the source video inside the analysed clip; `timestamp` is
  that second, zero-padded to 4 digits as AVA writes it (AVA's tools key rows on "video_id,%04d");
- the box is the person's detection at the keyframe's frame, divided by the frame's width and height
  (so in [0, 1]); people without a detection there (in-filled by LART) have no box and get no rows;
- `action_id` is the AVA class id (1..80) of each of LART's outputs, `score` its probability.
`video_id` is the YouTube id for YouTube links, otherwise the file name without extension (commas and
spaces replaced by '_').
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from lart_demo.atomic import atomic_write_text
from lart_demo.contracts import Result


def video_id(result: Result) -> str:
    url = result.clip.source_url
    if url:
        parsed = urlparse(url)
        vid = parse_qs(parsed.query).get("v", [""])[0] or parsed.path.rstrip("/").rsplit("/", 1)[-1]
        if vid:
            return re.sub(r"[^A-Za-z0-9_-]", "_", vid)
    stem = Path(result.clip.name).stem or "video"
    return re.sub(r"[,\s]+", "_", stem)


def keyframes(result: Result) -> list[tuple[int, int]]:
    """(source-video second, clip frame) of every 1 Hz keyframe inside the analysed clip."""
    clip = result.clip
    if clip.n_frames == 0 or clip.fps <= 0:
        return []
    last_s = clip.start_s + (clip.n_frames - 1) / clip.fps
    out = []
    for second in range(math.ceil(clip.start_s - 1e-6), math.floor(last_s + 1e-6) + 1):
        frame = min(clip.n_frames - 1, max(0, round((second - clip.start_s) * clip.fps)))
        out.append((second, frame))
    return out


def ava_rows(result: Result) -> list[str]:
    vid = video_id(result)
    size = np.array([result.clip.width, result.clip.height] * 2, dtype=np.float64)
    rows: list[str] = []
    for second, frame in keyframes(result):
        for track in result.tracks:
            if track.action_probs is None:
                continue
            pos = int(np.searchsorted(track.frames, frame))
            if pos >= len(track.frames) or track.frames[pos] != frame or not track.has_detection[pos]:
                continue
            box = track.boxes_xyxy[pos].astype(np.float64)
            if not np.all(np.isfinite(box)):
                continue
            x1, y1, x2, y2 = np.clip(box / size, 0.0, 1.0)
            for action_id, score in zip(result.action_ava_ids, track.action_probs[pos], strict=True):
                rows.append(
                    f"{vid},{second:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},{int(action_id)},{float(score):.4f}"
                )
    return rows


def write_ava_predictions(path: Path, result: Result) -> Path:
    rows = ava_rows(result)
    return atomic_write_text(Path(path), "".join(r + "\n" for r in rows))
