"""The result of one analysis: clip metadata, tracks, per-frame action probabilities, timings, versions.

`write_result_json(result, path)` / `read_result_json(path)` round-trip a `contracts.Result`;
`write_actions_csv(result, path)` writes one row per frame and track. The PHALP-compatible `tracks.pkl` is written by
`lart_demo.stages.tracking.tracks`; a Result only names it in `files["tracks_pkl"]`.

results.json schema (schema_version 1)
---------------------------------------
Top level (an object):

- `schema_version` (int): 1. Readers refuse a newer version.
- `random_weights` (bool), and `warning` (str, only when true): "random weights: predictions are meaningless".
- `clip` (object):
    `name` (str, file name or URL), `source` ("upload" | "youtube" | "frames" | "file"),
    `fps` (float, of the analysed frames), `n_frames` (int), `width`, `height` (int, analysed frame size),
    `duration_s` (float), `start_s` (float, where the analysed clip starts in the source),
    `caps_applied` (list of str: every limit applied, in words, e.g. "downscaled 1920x1080 -> 1280x720"),
    `source_url` (str | null), `content_hash` (str | null, sha256 of the source file).
- `actions` (object): `names` (list of A str, the display name of each output index),
    `ava_ids` (list of A int, the AVA class id of each output index). A is 60 for LART.
- `tracks` (list of objects, ascending `track_id`):
    `track_id` (int), `color_index` (int, index into the render palette),
    `thumbnail` (str | null, path relative to the folder of results.json),
    `frames` (list of T int, ascending 0-based frame indices of the analysed clip, first to last detection),
    `has_detection` (list of T bool; false = the tracker predicted the person without a detection),
    `boxes_xyxy` (list of T [x1, y1, x2, y2] in analysed-frame pixels, or null where there is no box),
    `action_probs` (list of T lists of A floats in [0, 1], rounded to 6 decimals, or null when actions
    were not computed).
- `timings_s` (object: stage name -> seconds), `model_versions` (object: model -> version string),
- `files` (object: role -> path relative to results.json; roles: "video", "tracks_pkl", "actions_csv", and the
  exports of `lart_demo.exports`: "actions_vtt", "actions_srt", "events_csv", "events_json",
  "ava_predictions_csv", "person_<id>_bvh", "person_<id>_smpl_npz"),
- `notes` (list of str: anything the user should know about this run), `created_utc` (str | null, ISO 8601).
- `work` (object: counts of the work done): `frames`, `detections` (people found, summed over frames),
    `tracks` (kept for actions), `mvit_clips` (appearance clips of all tracks), `mvit_backbone_passes`
    (distinct clips; tracks with the same clip frames share one pass), `hmr2_crops`, `lart_windows` (all int).
- `precision` (object): `requested` ("auto" | "fp32" | "bf16"), `effective` ("fp32", "bf16" or "bf16+tf32"),
    `device` (str), `autocast_stages` (list of str: networks run under bf16 autocast), `tf32_matmul` (bool).

actions.csv
-----------
One row per (frame, track) where the track exists, ordered by frame then track; the first line is the
header, so `pandas.read_csv(path)` needs no options. Columns: `frame`, `time_s` (frame / fps),
`track_id`, `has_detection` (0/1), `random_weights` (1 when the run used random test weights: the
probabilities are then meaningless), `top1`, `top1_prob`, `top2`, `top2_prob`, `top3`, `top3_prob`, then
one column per action (its display name; "name [AVA id]" when two actions share a display name) with
the probability.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lart_demo.atomic import atomic_output, atomic_write_text
from lart_demo.contracts import ClipMeta, Result, TrackResult
from lart_demo.errors import InputError
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE

SCHEMA_VERSION = 1
PROB_DECIMALS = 6
BOX_DECIMALS = 2
TOP_K_CSV = 3


def result_to_dict(result: Result) -> dict[str, Any]:
    """results.json content (see the module docstring)."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "random_weights": bool(result.random_weights)}
    if result.random_weights:
        out["warning"] = RANDOM_WEIGHTS_NOTICE
    clip = result.clip
    out["clip"] = {
        "name": clip.name,
        "source": clip.source,
        "fps": float(clip.fps),
        "n_frames": int(clip.n_frames),
        "width": int(clip.width),
        "height": int(clip.height),
        "duration_s": float(clip.duration_s),
        "start_s": float(clip.start_s),
        "caps_applied": list(clip.caps_applied),
        "source_url": clip.source_url,
        "content_hash": clip.content_hash,
    }
    out["actions"] = {"names": list(result.action_names), "ava_ids": [int(i) for i in result.action_ava_ids]}
    out["tracks"] = [_track_to_dict(t) for t in result.tracks]
    out["timings_s"] = {k: float(v) for k, v in result.timings_s.items()}
    out["model_versions"] = dict(result.model_versions)
    out["files"] = dict(result.files)
    out["notes"] = list(result.notes)
    out["created_utc"] = result.created_utc
    out["work"] = {k: int(v) for k, v in result.work.items()}
    out["precision"] = dict(result.precision)
    return out


def result_from_dict(data: dict[str, Any]) -> Result:
    """Inverse of `result_to_dict`; a newer schema or a malformed file is an InputError."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError("This is not a lart-demo results file (no schema_version).")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(
            f"results.json has schema version {version}, newer than this lart-demo understands "
            f"({SCHEMA_VERSION}); update lart-demo to read it."
        )
    try:
        clip_d = data["clip"]
        clip = ClipMeta(
            name=clip_d["name"],
            source=clip_d["source"],
            fps=float(clip_d["fps"]),
            n_frames=int(clip_d["n_frames"]),
            width=int(clip_d["width"]),
            height=int(clip_d["height"]),
            duration_s=float(clip_d["duration_s"]),
            start_s=float(clip_d.get("start_s", 0.0)),
            caps_applied=list(clip_d.get("caps_applied", [])),
            source_url=clip_d.get("source_url"),
            content_hash=clip_d.get("content_hash"),
        )
        num_actions = len(data["actions"]["names"])
        tracks = [_track_from_dict(t, num_actions) for t in data["tracks"]]
        return Result(
            clip=clip,
            tracks=tracks,
            action_names=list(data["actions"]["names"]),
            action_ava_ids=[int(i) for i in data["actions"]["ava_ids"]],
            timings_s={k: float(v) for k, v in data.get("timings_s", {}).items()},
            model_versions=dict(data.get("model_versions", {})),
            random_weights=bool(data.get("random_weights", False)),
            files=dict(data.get("files", {})),
            notes=list(data.get("notes", [])),
            created_utc=data.get("created_utc"),
            work={k: int(v) for k, v in data.get("work", {}).items()},
            precision=dict(data.get("precision", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"The results file is incomplete or malformed ({type(exc).__name__}: {exc}).") from exc


def write_result_json(result: Result, path: str | Path) -> Path:
    text = json.dumps(result_to_dict(result), indent=1, allow_nan=False)
    return atomic_write_text(Path(path), text + "\n")


def read_result_json(path: str | Path) -> Result:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Results file not found: {path}.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Cannot read the results file {path.name}: {exc}.") from exc
    return result_from_dict(data)


def csv_action_columns(result: Result) -> list[str]:
    """One unique column name per action: the display name, or 'name [AVA id]' when names repeat."""
    counts: dict[str, int] = {}
    for name in result.action_names:
        counts[name] = counts.get(name, 0) + 1
    return [
        name if counts[name] == 1 else f"{name} [{ava}]"
        for name, ava in zip(result.action_names, result.action_ava_ids, strict=True)
    ]


def write_actions_csv(result: Result, path: str | Path) -> Path:
    """One row per frame and track (frame order, then track id); see the module docstring."""
    columns = csv_action_columns(result)
    k = min(TOP_K_CSV, len(columns))
    header = ["frame", "time_s", "track_id", "has_detection", "random_weights"]
    for j in range(1, k + 1):
        header += [f"top{j}", f"top{j}_prob"]
    header += columns
    rows: list[tuple[int, int, list[Any]]] = []
    fps = float(result.clip.fps)
    for track in result.tracks:
        if track.action_probs is None:
            continue
        probs = track.action_probs
        # stable descending order (ties: lower output index first)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        for i, frame in enumerate(track.frames):
            row: list[Any] = [
                int(frame),
                _fmt(frame / fps, 4),
                track.track_id,
                int(track.has_detection[i]),
                int(result.random_weights),
            ]
            for j in order[i]:
                row += [result.action_names[j], _fmt(probs[i, j], PROB_DECIMALS)]
            row += [_fmt(p, PROB_DECIMALS) for p in probs[i]]
            rows.append((int(frame), track.track_id, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    with atomic_output(Path(path), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(r[2] for r in rows)
    return Path(path)


def _fmt(value: float, decimals: int) -> str:
    return f"{float(value):.{decimals}f}"


def _rounded(values: Sequence[float], decimals: int) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), decimals) for v in values]


def _track_to_dict(track: TrackResult) -> dict[str, Any]:
    boxes = [None if not np.all(np.isfinite(b)) else _rounded(b, BOX_DECIMALS) for b in track.boxes_xyxy]
    probs = None
    if track.action_probs is not None:
        probs = [_rounded(row, PROB_DECIMALS) for row in track.action_probs]
    return {
        "track_id": int(track.track_id),
        "color_index": int(track.color_index),
        "thumbnail": track.thumbnail,
        "frames": [int(f) for f in track.frames],
        "has_detection": [bool(h) for h in track.has_detection],
        "boxes_xyxy": boxes,
        "action_probs": probs,
    }


def _track_from_dict(data: dict[str, Any], num_actions: int) -> TrackResult:
    frames = data["frames"]
    boxes = np.array([[math.nan] * 4 if b is None else b for b in data["boxes_xyxy"]], dtype=np.float32)
    probs = data.get("action_probs")
    if probs is not None:
        if any(p is None for row in probs for p in row):
            raise InputError(f"Track {data['track_id']} has a missing action probability.")
        probs = np.asarray(probs, dtype=np.float32).reshape(len(probs), num_actions)
    return TrackResult(
        track_id=int(data["track_id"]),
        frames=np.asarray(frames, dtype=np.int64),
        has_detection=np.asarray(data["has_detection"], dtype=bool),
        boxes_xyxy=boxes,
        color_index=int(data.get("color_index", 0)),
        thumbnail=data.get("thumbnail"),
        action_probs=probs,
    )
