"""actions.vtt (WebVTT) and actions.srt (SubRip): each person's top actions as captions over the video.

A cue starts wherever a person's top actions (which, and in what order) change, and reads like "#3: run 87%, jump 42%"
(track id, then each action with its mean probability over the cue, highest first). A change that would
last less than `MIN_CUE_S` is folded into the cue before it, so noisy probabilities do not flicker.
Cues of different people overlap in time; players show them stacked. Times are on the analysed clip's
clock (frame / fps), the clock of render.mp4. With random weights a cue over the whole clip says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lart_demo.atomic import atomic_write_text
from lart_demo.contracts import Result, TrackResult
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE

MIN_CUE_S = 0.3


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    track_id: int | None = None  # None: a note about the whole run


def _top_actions(probs: np.ndarray, top_k: int, min_prob: float) -> list[tuple[int, ...]]:
    """Per frame, the output indices of the top `top_k` actions at or above `min_prob`, best first."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    return [tuple(int(j) for j in row if probs[i, j] >= min_prob) for i, row in enumerate(order)]


def _runs(track: TrackResult, keys: list[tuple[int, ...]], min_frames: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """(first, last) track positions of each run of equal top actions; short runs join the run before."""
    raw: list[tuple[int, int, tuple[int, ...], bool]] = []  # (first, last, key, follows the previous frame)
    for i, key in enumerate(keys):
        follows = i > 0 and track.frames[i] == track.frames[i - 1] + 1
        if raw and follows and raw[-1][2] == key:
            raw[-1] = (raw[-1][0], i, key, raw[-1][3])
        else:
            raw.append((i, i, key, follows))
    merged: list[tuple[int, int, tuple[int, ...]]] = []
    for first, last, key, follows in raw:
        if merged and follows and (last - first + 1 < min_frames or merged[-1][2] == key):
            merged[-1] = (merged[-1][0], last, merged[-1][2])  # a blip stays part of the cue before it
        else:
            merged.append((first, last, key))
    return merged


def caption_cues(result: Result, top_k: int = 3, min_prob: float = 0.0, min_cue_s: float = MIN_CUE_S) -> list[Cue]:
    """Every cue of every person, ordered by start time (then track id), as WebVTT requires."""
    fps = float(result.clip.fps)
    min_frames = max(1, round(min_cue_s * fps))
    cues: list[Cue] = []
    for track in result.tracks:
        if track.action_probs is None or len(track.frames) == 0:
            continue
        keys = _top_actions(track.action_probs, max(1, top_k), min_prob)
        for first, last, key in _runs(track, keys, min_frames):
            if not key:
                continue
            mean = track.action_probs[first : last + 1].mean(axis=0)
            shown = sorted(key, key=lambda j: (-mean[j], j))
            text = f"#{track.track_id}: " + ", ".join(
                f"{result.action_names[j]} {round(100 * float(mean[j]))}%" for j in shown
            )
            cues.append(Cue(track.frames[first] / fps, (track.frames[last] + 1) / fps, text, track.track_id))
    cues.sort(key=lambda c: (c.start_s, c.track_id if c.track_id is not None else -1))
    if result.random_weights and result.clip.n_frames:
        cues.insert(0, Cue(0.0, result.clip.n_frames / fps, RANDOM_WEIGHTS_NOTICE))
    return cues


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def vtt_text(cues: list[Cue], random_weights: bool = False) -> str:
    parts = ["WEBVTT", ""]
    if random_weights:
        parts += [f"NOTE {RANDOM_WEIGHTS_NOTICE}", ""]
    for n, cue in enumerate(cues, start=1):
        parts += [str(n), f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}", html.escape(cue.text, False), ""]
    return "\n".join(parts)


def srt_text(cues: list[Cue]) -> str:
    parts: list[str] = []
    for n, cue in enumerate(cues, start=1):
        parts += [str(n), f"{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}", cue.text, ""]
    return "\n".join(parts)


def write_captions(out_dir: Path, result: Result, top_k: int, min_prob: float) -> tuple[Path, Path]:
    """actions.vtt and actions.srt in `out_dir`."""
    cues = caption_cues(result, top_k, min_prob)
    vtt = atomic_write_text(Path(out_dir) / "actions.vtt", vtt_text(cues, result.random_weights))
    srt = atomic_write_text(Path(out_dir) / "actions.srt", srt_text(cues))
    return vtt, srt
