"""Per-person action timelines: what the player shows and what segment search looks through.

Pure functions over plain arrays, so the UI, the API and the tests share one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lart_demo.errors import InputError


@dataclass(frozen=True)
class PersonTimeline:
    """One tracked person: the frames they appear in and their 60 action probabilities there."""

    track_id: int
    color: str  # "#rrggbb", the colour their mesh is drawn in
    frames: np.ndarray  # (T,) int, ascending frame indices
    probs: np.ndarray  # (T, A) float in [0, 1], row t belongs to frames[t]
    thumbnail: str | None = None  # data: URL or file path


@dataclass(frozen=True)
class Segment:
    track_id: int
    action: str
    start_s: float
    end_s: float
    peak: float  # highest probability inside the segment

    def label(self) -> str:
        return f"#{self.track_id} {self.action}: {self.start_s:.1f}–{self.end_s:.1f} s (peak {self.peak:.0%})"


def top_action_indices(person: PersonTimeline, k: int) -> list[int]:
    """The k actions with the highest mean probability over the person's frames (ties: lower index first)."""
    if person.probs.size == 0:
        return []
    mean = person.probs.mean(axis=0)
    order = np.lexsort((np.arange(mean.size), -mean))
    return [int(i) for i in order[:k]]


def per_frame_topk_union(person: PersonTimeline, k: int) -> list[int]:
    """Every action that is among the k most likely in at least one frame (so per-frame bars are exact)."""
    if person.probs.size == 0:
        return []
    k = min(k, person.probs.shape[1])
    top = np.argpartition(-person.probs, k - 1, axis=1)[:, :k]
    return sorted({int(i) for i in np.unique(top)})


def find_segments(
    people: Sequence[PersonTimeline],
    action_names: Sequence[str],
    action: str,
    fps: float,
    threshold: float = 0.5,
    track_id: int | None = None,
    min_duration_s: float = 0.0,
    max_gap_frames: int = 1,
) -> list[Segment]:
    """Time spans where `action` has probability >= threshold, per person, sorted by start time.

    Frames of one person closer than `max_gap_frames` are merged, so a one-frame dip or a missed
    detection does not split a segment. A segment spans from its first frame's start to its last
    frame's end.
    """
    if action not in action_names:
        raise InputError(f"Unknown action '{action}'. Pick one from the list.")
    if not 0.0 <= threshold <= 1.0:
        raise InputError("The threshold must be between 0 and 1.")
    if fps <= 0:
        raise InputError("The clip has no valid frame rate.")
    index = list(action_names).index(action)
    segments: list[Segment] = []
    for person in people:
        if track_id is not None and person.track_id != track_id:
            continue
        hits = person.probs[:, index] >= threshold
        frames = person.frames[hits]
        values = person.probs[hits, index]
        if frames.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(frames) > max_gap_frames) + 1
        for run_frames, run_values in zip(np.split(frames, breaks), np.split(values, breaks), strict=True):
            start_s = float(run_frames[0]) / fps
            end_s = float(run_frames[-1] + 1) / fps
            if end_s - start_s + 1e-9 < min_duration_s:
                continue
            segments.append(Segment(person.track_id, action, start_s, end_s, float(run_values.max())))
    segments.sort(key=lambda s: (s.start_s, s.track_id))
    return segments


# one colour per action, the same for every person (Tableau 10 + 10 darker companions)
ACTION_PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#2f4b7c", "#a05195", "#d45087", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
)  # fmt: skip
HEAT_LEVELS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"  # 64 levels, one char a cell
HEAT_ABSENT = "."  # the person is not in any frame of that time bin
HEAT_MAX_BINS = 150


def heat_rows(person: PersonTimeline, n_frames: int, bins: int) -> list[str]:
    """Every action's probability over time, as one string per action with one char per time bin.

    A bin holds the mean over the person's frames inside it, quantised to 64 levels (HEAT_LEVELS);
    HEAT_ABSENT marks bins without the person. Compact enough to send all 60 actions of every person.
    """
    n_actions = person.probs.shape[1] if person.probs.ndim == 2 else 0
    sums = np.zeros((bins, n_actions))
    counts = np.zeros(bins)
    if person.frames.size:
        which = np.minimum(person.frames * bins // max(n_frames, 1), bins - 1)
        np.add.at(sums, which, person.probs)
        np.add.at(counts, which, 1)
    levels = np.round(sums / np.maximum(counts, 1)[:, None] * (len(HEAT_LEVELS) - 1)).astype(int)
    levels = np.clip(levels, 0, len(HEAT_LEVELS) - 1)
    return [
        "".join(HEAT_LEVELS[v] if counts[b] else HEAT_ABSENT for b, v in enumerate(levels[:, a]))
        for a in range(n_actions)
    ]


def action_colors(people: Sequence[PersonTimeline], action_names: Sequence[str], top_k: int) -> dict[str, str]:
    """A colour per action drawn in anyone's timeline: distinct while there are colours left, same for all."""
    shown: list[int] = []
    for person in people:
        shown += [i for i in top_action_indices(person, top_k) if i not in shown]
    return {action_names[i]: ACTION_PALETTE[n % len(ACTION_PALETTE)] for n, i in enumerate(sorted(shown))}


def player_payload(
    people: Sequence[PersonTimeline],
    action_names: Sequence[str],
    fps: float,
    n_frames: int,
    top_k: int = 5,
    bar_k: int = 8,
) -> dict:
    """The compact JSON the browser player draws from.

    Per person it keeps the `top_k` actions by mean (the timeline traces) plus every action that is in
    some frame's top `bar_k` (so the scrubber's bars are exact), rounded to 3 decimals, and the heat
    rows of all actions (`heat_rows`). `colors` gives each traced action one colour for everyone.
    """
    bins = max(1, min(int(n_frames), HEAT_MAX_BINS))
    out_people = []
    for person in people:
        traces = top_action_indices(person, top_k)
        kept = sorted(set(traces) | set(per_frame_topk_union(person, bar_k)))
        out_people.append(
            {
                "id": int(person.track_id),
                "color": person.color,
                "thumb": person.thumbnail,
                "frames": [int(f) for f in person.frames],
                "start": float(person.frames[0]) / fps if person.frames.size else 0.0,
                "end": float(person.frames[-1] + 1) / fps if person.frames.size else 0.0,
                "traces": [action_names[i] for i in traces],
                "actions": [action_names[i] for i in kept],
                "probs": {action_names[i]: np.round(person.probs[:, i], 3).tolist() for i in kept},
                "heat": heat_rows(person, n_frames, bins),
            }
        )
    return {
        "fps": float(fps),
        "n_frames": int(n_frames),
        "bar_k": int(bar_k),
        "bar_shown": 3,
        "names": list(action_names),
        "colors": action_colors(people, action_names, top_k),
        "heat_bins": bins,
        "heat_levels": HEAT_LEVELS,
        "people": out_people,
    }
