"""events.csv / events.json: segments above the threshold, per person and action."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas
import pytest
from export_scenes import FPS, synthetic_result

from lart_demo.errors import InputError
from lart_demo.exports.events import EVENT_FIELDS, find_events, read_events, write_events


def _result(random_weights: bool = False):
    probs = np.full((30, 4), 0.1, np.float32)
    probs[5:12, 0] = [0.6, 0.7, 0.9, 0.8, 0.55, 0.5, 0.6]  # run: frames 5..11 (0.5 counts as above)
    probs[20:25, 0] = 0.75  # run again
    frames = np.r_[np.arange(0, 15), np.arange(18, 33)]  # the person is missed for frames 15..17
    probs[12:18, 1] = 0.8  # jump across the gap in the person's frames: two events
    return synthetic_result({2: (frames, probs)}, random_weights=random_weights)


def test_segments_have_times_frames_and_probabilities() -> None:
    events = find_events(_result(), threshold=0.5)
    assert [(e.action, e.start_frame, e.end_frame) for e in events] == [
        ("run", 5, 11),
        ("jump", 12, 14),
        ("jump", 18, 20),
        ("run", 23, 27),
    ]
    first = events[0]
    assert first.track_id == 2 and first.ava_id == 10 and first.ava_name == "run/jog"
    assert first.start_s == pytest.approx(5 / FPS) and first.end_s == pytest.approx(12 / FPS)
    assert first.peak_prob == pytest.approx(0.9) and first.peak_frame == 7
    assert first.mean_prob == pytest.approx(np.mean([0.6, 0.7, 0.9, 0.8, 0.55, 0.5, 0.6]), abs=1e-4)


def test_threshold_controls_the_segments() -> None:
    assert [(e.start_frame, e.end_frame) for e in find_events(_result(), 0.65) if e.action == "run"] == [
        (6, 8),
        (23, 27),
    ]
    assert find_events(_result(), 0.95) == []
    with pytest.raises(InputError):
        find_events(_result(), 1.5)


def test_csv_and_json_agree(tmp_path: Path) -> None:
    csv_path, json_path = write_events(tmp_path, _result(random_weights=True), threshold=0.5)
    frame = pandas.read_csv(csv_path)  # default options: the flag is a column, not a comment line
    assert tuple(frame.columns) == (*EVENT_FIELDS, "random_weights") and set(frame["random_weights"]) == {1}
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    data = json.loads(json_path.read_text())
    assert data["threshold"] == 0.5 and data["fps"] == FPS and data["random_weights"]
    assert len(rows) == len(data["events"]) == 4
    for row, event in zip(rows, data["events"], strict=True):
        assert int(row["start_frame"]) == event["start_frame"]
        assert float(row["mean_prob"]) == pytest.approx(event["mean_prob"])
    assert read_events(json_path)[0].ava_id == 10
