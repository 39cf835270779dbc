"""events.csv and events.json: for each person and action, the time segments where its probability holds.

A segment is a run of consecutive clip frames of one person where one action's probability is at or above
the threshold (default 0.5, CLI `--event-threshold`). Each has start_s/end_s (end_s is the end of its last
frame, so end_s - start_s is its duration), start_frame/end_frame (inclusive), the peak and mean
probability, the frame of the peak, and the action's AVA id, AVA name and the display name used elsewhere.
Segments are ordered by start time, then track id, then AVA id.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lart_demo.atomic import atomic_write_text
from lart_demo.contracts import Result
from lart_demo.errors import InputError
from lart_demo.labels import AVA_ACTION_NAMES
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE

DEFAULT_EVENT_THRESHOLD = 0.5
EVENT_FIELDS = (
    "track_id",
    "ava_id",
    "ava_name",
    "action",
    "start_s",
    "end_s",
    "start_frame",
    "end_frame",
    "peak_prob",
    "peak_frame",
    "mean_prob",
)


@dataclass(frozen=True)
class Event:
    track_id: int
    ava_id: int
    ava_name: str
    action: str
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    peak_prob: float
    peak_frame: int
    mean_prob: float


def check_threshold(threshold: float) -> float:
    if not 0.0 <= float(threshold) <= 1.0:
        raise InputError(f"The event threshold must be between 0 and 1 (got {threshold}).")
    return float(threshold)


def find_events(result: Result, threshold: float = DEFAULT_EVENT_THRESHOLD) -> list[Event]:
    threshold = check_threshold(threshold)
    fps = float(result.clip.fps)
    events: list[Event] = []
    for track in result.tracks:
        if track.action_probs is None or len(track.frames) == 0:
            continue
        # a new run starts after a gap in the person's frames as well as where the probability drops
        breaks = np.flatnonzero(np.diff(track.frames) != 1) + 1
        for j, (ava_id, name) in enumerate(zip(result.action_ava_ids, result.action_names, strict=True)):
            above = track.action_probs[:, j] >= threshold
            for block in np.split(np.arange(len(track.frames)), breaks):
                edges = np.diff(np.concatenate([[0], above[block].astype(np.int8), [0]]))
                for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                    pos = block[a:b]
                    values = track.action_probs[pos, j].astype(np.float64)
                    first, last = int(track.frames[pos[0]]), int(track.frames[pos[-1]])
                    events.append(
                        Event(
                            track_id=int(track.track_id),
                            ava_id=int(ava_id),
                            ava_name=AVA_ACTION_NAMES.get(int(ava_id), name),
                            action=name,
                            start_s=round(first / fps, 4),
                            end_s=round((last + 1) / fps, 4),
                            start_frame=first,
                            end_frame=last,
                            peak_prob=round(float(values.max()), 4),
                            peak_frame=int(track.frames[pos[int(np.argmax(values))]]),
                            mean_prob=round(float(values.mean()), 4),
                        )
                    )
    events.sort(key=lambda e: (e.start_s, e.track_id, e.ava_id))
    return events


def events_json_text(result: Result, events: list[Event], threshold: float) -> str:
    data: dict[str, object] = {"random_weights": bool(result.random_weights)}
    if result.random_weights:
        data["warning"] = RANDOM_WEIGHTS_NOTICE
    data.update({"fps": float(result.clip.fps), "threshold": float(threshold), "events": [asdict(e) for e in events]})
    return json.dumps(data, indent=1) + "\n"


def events_csv_text(result: Result, events: list[Event]) -> str:
    # the random-weights flag is a column, as in actions.csv: a comment line would break default CSV readers
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=(*EVENT_FIELDS, "random_weights"), lineterminator="\n")
    writer.writeheader()
    flag = int(bool(result.random_weights))
    writer.writerows({**asdict(e), "random_weights": flag} for e in events)
    return buffer.getvalue()


def write_events(out_dir: Path, result: Result, threshold: float = DEFAULT_EVENT_THRESHOLD) -> tuple[Path, Path]:
    """events.csv and events.json in `out_dir`."""
    events = find_events(result, threshold)
    out_dir = Path(out_dir)
    return (
        atomic_write_text(out_dir / "events.csv", events_csv_text(result, events)),
        atomic_write_text(out_dir / "events.json", events_json_text(result, events, threshold)),
    )


def read_events(path: Path) -> list[Event]:
    """The events of an events.json (for the page's highlight clips)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Event(**{k: e[k] for k in EVENT_FIELDS}) for e in data["events"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"Cannot read the events file {Path(path).name}: {exc}.") from exc
