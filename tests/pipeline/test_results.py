"""Result model: JSON round trip, schema checks, actions CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lart_demo.contracts import ClipMeta, Result, TrackResult
from lart_demo.errors import InputError
from lart_demo.notices import RANDOM_WEIGHTS_NOTICE
from lart_demo.pipeline.results import (
    SCHEMA_VERSION,
    csv_action_columns,
    read_result_json,
    result_to_dict,
    write_actions_csv,
    write_result_json,
)


def _result(seed: int = 0, num_actions: int = 60, random_weights: bool = False) -> Result:
    rng = np.random.default_rng(seed)
    names = [f"action {i}" for i in range(num_actions)]
    names[5] = names[7] = "n/a"  # two ids without a short name, as in the demo's table
    tracks = []
    for tid, (start, length) in enumerate([(3, 20), (0, 7), (10, 1)], start=1):
        frames = np.arange(start, start + length)
        boxes = rng.uniform(0, 1000, (length, 4)).astype(np.float32)
        boxes[length // 2] = np.nan  # a predicted frame without a box
        tracks.append(
            TrackResult(
                track_id=tid * 3,
                frames=frames,
                has_detection=rng.random(length) > 0.3,
                boxes_xyxy=boxes,
                color_index=tid - 1,
                thumbnail=f"thumbs/{tid * 3}.jpg",
                action_probs=rng.random((length, num_actions)).astype(np.float32),
            )
        )
    tracks.append(TrackResult(track_id=100, frames=[], has_detection=[], boxes_xyxy=[], action_probs=None))
    clip = ClipMeta(
        name="jump.mp4", source="upload", fps=24.0, n_frames=40, width=398, height=288, duration_s=40 / 24,
        start_s=1.5, caps_applied=["trimmed to 60 s"], content_hash="ab" * 32,
    )  # fmt: skip
    return Result(
        clip=clip,
        tracks=tracks[::-1],  # any order in, ascending track ids out
        action_names=names,
        action_ava_ids=list(range(1, num_actions + 1)),
        timings_s={"people": 1.25, "tracking": 0.5},
        model_versions={"hmr2": "HMR2.0b epoch=35-step=1000000", "lart": "lart_mvit"},
        random_weights=random_weights,
        files={"video": "rendered.mp4", "tracks_pkl": "tracks.pkl", "actions_csv": "actions.csv"},
        notes=["a note"],
        created_utc="2026-11-25T08:00:00Z",
    )


def _assert_same(a: Result, b: Result) -> None:
    assert a.clip == b.clip
    assert [t.track_id for t in a.tracks] == [t.track_id for t in b.tracks]
    for ta, tb in zip(a.tracks, b.tracks, strict=True):
        np.testing.assert_array_equal(ta.frames, tb.frames)
        np.testing.assert_array_equal(ta.has_detection, tb.has_detection)
        np.testing.assert_allclose(ta.boxes_xyxy, tb.boxes_xyxy, atol=5e-3, equal_nan=True)
        assert (ta.action_probs is None) == (tb.action_probs is None)
        if ta.action_probs is not None:
            np.testing.assert_allclose(ta.action_probs, tb.action_probs, atol=5e-7)
        assert (ta.color_index, ta.thumbnail) == (tb.color_index, tb.thumbnail)
    for name in ("action_names", "action_ava_ids", "timings_s", "model_versions", "random_weights", "files", "notes"):
        assert getattr(a, name) == getattr(b, name), name


@pytest.mark.parametrize("seed,num_actions", [(0, 60), (1, 9)])
def test_json_round_trip(tmp_path: Path, seed: int, num_actions: int) -> None:
    result = _result(seed, num_actions)
    path = write_result_json(result, tmp_path / "results.json")
    loaded = read_result_json(path)
    _assert_same(result, loaded)
    assert [t.track_id for t in loaded.tracks] == [3, 6, 9, 100]
    # writing what was read gives the same file (rounding is idempotent)
    again = write_result_json(loaded, tmp_path / "again.json")
    assert again.read_text() == path.read_text()
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and "warning" not in data
    assert data["tracks"][0]["boxes_xyxy"][10] is None
    assert data["clip"]["caps_applied"] == ["trimmed to 60 s"]


def test_random_weights_are_announced_in_json_and_csv(tmp_path: Path) -> None:
    result = _result(random_weights=True)
    data = json.loads(write_result_json(result, tmp_path / "r.json").read_text())
    assert data["random_weights"] is True and data["warning"] == RANDOM_WEIGHTS_NOTICE
    # the flag is a column, so pandas reads the real columns with no options
    table = pd.read_csv(write_actions_csv(result, tmp_path / "a.csv"))
    assert list(table.columns[:5]) == ["frame", "time_s", "track_id", "has_detection", "random_weights"]
    assert (table["random_weights"] == 1).all() and len(table.columns) == 5 + 6 + 60
    plain = pd.read_csv(write_actions_csv(_result(), tmp_path / "b.csv"))
    assert (plain["random_weights"] == 0).all()


def test_actions_csv_rows_and_top3(tmp_path: Path) -> None:
    result = _result()
    path = write_actions_csv(result, tmp_path / "actions.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = csv_action_columns(result)
    assert "n/a [6]" in columns and "n/a [8]" in columns and len(set(columns)) == 60
    with_actions = [t for t in result.tracks if t.action_probs is not None]
    assert len(rows) == sum(len(t.frames) for t in with_actions)
    keys = [(int(r["frame"]), int(r["track_id"])) for r in rows]
    assert keys == sorted(keys)
    track = result.track(3)
    i = 4
    row = next(r for r in rows if r["track_id"] == "3" and int(r["frame"]) == int(track.frames[i]))
    assert float(row["time_s"]) == pytest.approx(track.frames[i] / 24.0, abs=1e-4)
    assert row["has_detection"] == str(int(track.has_detection[i]))
    probs = np.array([float(row[c]) for c in columns])
    np.testing.assert_allclose(probs, track.action_probs[i], atol=5e-7)
    best = np.argsort(-track.action_probs[i], kind="stable")[:3]
    assert [row["top1"], row["top2"], row["top3"]] == [result.action_names[j] for j in best]
    assert float(row["top1_prob"]) == pytest.approx(track.action_probs[i, best[0]], abs=5e-7)


def test_newer_schema_and_malformed_files_are_refused(tmp_path: Path) -> None:
    data = result_to_dict(_result())
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "new.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="newer than this lart-demo"):
        read_result_json(tmp_path / "new.json")
    data = result_to_dict(_result())
    del data["clip"]["fps"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="incomplete or malformed"):
        read_result_json(tmp_path / "bad.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(InputError, match="Cannot read"):
        read_result_json(tmp_path / "text.json")
    with pytest.raises(InputError, match="not found"):
        read_result_json(tmp_path / "missing.json")


def test_inconsistent_shapes_are_rejected() -> None:
    with pytest.raises(InputError, match="do not match"):
        TrackResult(track_id=1, frames=[0, 1], has_detection=[True, True], boxes_xyxy=np.zeros((2, 4)),
                    action_probs=np.zeros((3, 60)))  # fmt: skip
    with pytest.raises(InputError, match="ascending"):
        TrackResult(track_id=1, frames=[2, 1], has_detection=[True, True], boxes_xyxy=np.zeros((2, 4)))
    result = _result()
    with pytest.raises(InputError, match="names 59 actions"):
        Result(clip=result.clip, tracks=result.tracks, action_names=result.action_names[:59],
               action_ava_ids=result.action_ava_ids[:59])  # fmt: skip
