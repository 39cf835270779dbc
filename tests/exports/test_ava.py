"""ava_predictions.csv: AVA evaluation columns and value ranges, 1 Hz keyframes, no header."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from export_scenes import HEIGHT, WIDTH, synthetic_result

from lart_demo.exports.ava import keyframes, video_id, write_ava_predictions


def _result():
    rng = np.random.default_rng(0)
    # person 1 everywhere; person 2 from frame 30 with a box running off the right edge
    res = synthetic_result({1: (np.arange(0, 60), rng.random((60, 4))), 2: (np.arange(30, 60), rng.random((30, 4)))})
    res.tracks[1].boxes_xyxy[:, 2] = WIDTH + 40
    res.tracks[0].has_detection[25] = False  # in-filled at the 1 s keyframe: no box, no rows
    return res


def test_rows_follow_the_ava_evaluation_format(tmp_path: Path) -> None:
    result = _result()
    path = write_ava_predictions(tmp_path / "ava_predictions.csv", result)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows, "no rows"
    keys = set()
    for row in rows:
        assert len(row) == 8
        vid, ts, x1, y1, x2, y2, action, score = row
        assert vid == "dance_party"
        assert ts.isdigit() and len(ts) == 4
        box = [float(v) for v in (x1, y1, x2, y2)]
        assert all(0.0 <= v <= 1.0 for v in box) and box[0] < box[2] and box[1] < box[3]
        assert 1 <= int(action) <= 80
        assert 0.0 <= float(score) <= 1.0
        keys.add((ts, x1, y1, x2, y2))
    # 60 frames at 25 fps: keyframes at 0, 1 and 2 s (frames 0, 25, 50); person 1 is in-filled at 1 s and
    # person 2 appears at frame 30, so: 0 s person 1, 1 s nobody, 2 s both (person 2's box clipped to 1.0)
    assert [k[0] for k in sorted(keys)] == ["0000", "0002", "0002"]
    assert len(rows) == 3 * 4  # three boxes x 4 actions
    assert [int(r[6]) for r in rows[:4]] == result.action_ava_ids
    assert max(float(r[4]) for r in rows) == 1.0


def test_keyframes_are_the_source_seconds_inside_the_clip() -> None:
    result = _result()
    assert keyframes(result) == [(0, 0), (1, 25), (2, 50)]
    result.clip.start_s = 12.5  # a trimmed clip: seconds of the source video, not of the clip
    result.clip.n_frames = 100
    assert keyframes(result) == [(13, 12), (14, 38), (15, 62), (16, 88)]


def test_boxes_are_normalised_by_the_frame_size(tmp_path: Path) -> None:
    result = _result()
    rows = list(csv.reader(write_ava_predictions(tmp_path / "a.csv", result).read_text().splitlines()))
    x1, y1, x2, y2 = (float(v) for v in rows[0][2:6])
    assert (x1, y1, x2, y2) == (
        round(20 / WIDTH, 3),
        round(30 / HEIGHT, 3),
        round(120 / WIDTH, 3),
        round(230 / HEIGHT, 3),
    )


def test_video_id_of_a_youtube_link() -> None:
    result = _result()
    result.clip.source_url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3"
    assert video_id(result) == "dQw4w9WgXcQ"
    result.clip.source_url = "https://youtu.be/abc-DEF_123"
    assert video_id(result) == "abc-DEF_123"
