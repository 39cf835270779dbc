"""The orchestration's own logic, without models: which tracks are kept, what is drawn per frame, and the
tracks.pkl layout built from typed results (the tracker's records stay untouched)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
from track_factory import lart_track

from lart_demo.contracts import ActionResult, Track
from lart_demo.exports.tracks_pkl import lart_results
from lart_demo.pipeline.analysis import _boxes_xyxy, _keep_busiest, _sightings, people_by_frame

NAMES = [f"action {k}" for k in range(60)]


def _track(tid: int, has: list[bool], listed: list[bool], first_frame: int = 0) -> Track:
    n = len(has)
    track = lart_track(tid, np.zeros((n, 229)), np.zeros((n, 45, 3)), np.zeros((n, 3)), np.array(has))
    rng = np.random.default_rng(tid)
    boxes = np.where(np.array(has)[:, None], rng.uniform(10, 50, (n, 4)), 0.0)
    return replace(
        track,
        frame_index=np.arange(first_frame, first_frame + n),
        listed=np.array(listed),
        boxes_tlwh=boxes,
        box_conf=np.where(has, rng.uniform(0.5, 1.0, n), 0.0),
        global_orient=rng.normal(size=(n, 1, 3, 3)).astype(np.float32),
        cam_t=rng.normal(size=(n, 3)).astype(np.float32),
    )


def _actions(track: Track) -> ActionResult:
    n = len(track)
    rng = np.random.default_rng(100 + track.track_id)
    logits = rng.normal(size=(n, 60)).astype(np.float32)
    return ActionResult(
        frame_index=track.frame_index,
        has_detection=track.has_detection,
        tokens=np.zeros((n, 8), np.float32),
        logits=logits,
        probs=1 / (1 + np.exp(-logits)),
        top_index=np.zeros((n, 3), np.int64),
        top_ava_id=np.zeros((n, 3), np.int64),
        top_prob=np.zeros((n, 3), np.float32),
        top_labels=[[f"{t}:{k}" for k in range(3)] for t in range(n)],
        global_orient=rng.normal(size=(n, 1, 3, 3)).astype(np.float32),
        body_pose=rng.normal(size=(n, 23, 3, 3)).astype(np.float32),
        betas=rng.normal(size=(n, 10)).astype(np.float32),
        camera=rng.normal(size=(n, 3)).astype(np.float32),
        location=np.zeros((n, 3), np.float32),
    )


def test_keep_busiest_keeps_the_most_detected_tracks_in_their_order() -> None:
    tracks = {
        5: _track(5, [True, False, False], [True] * 3),
        2: _track(2, [True, True, True], [True] * 3),
        9: _track(9, [True, True, False], [True] * 3),
        1: _track(1, [True, True, False], [True] * 3),
    }
    assert list(_keep_busiest(tracks, 2)) == [2, 1]  # ties: lower id; the order stays PHALP's
    assert _keep_busiest(tracks, 10) is tracks


def test_people_by_frame_draws_detections_and_in_fills_listed_ghosts() -> None:
    # detected, ghost (listed, not detected), dropped (not listed), detected again
    track = _track(3, [True, False, False, True], [True, True, False, True], first_frame=10)
    act = _actions(track)
    drawn = people_by_frame({3: track}, {3: act}, NAMES)
    assert sorted(drawn) == [10, 11, 13]
    (detected,), (ghost,) = drawn[10], drawn[11]
    assert not detected.is_ghost and ghost.is_ghost
    np.testing.assert_array_equal(detected.global_orient, track.global_orient[0])
    np.testing.assert_array_equal(detected.cam_t, track.cam_t[0])
    np.testing.assert_array_equal(ghost.global_orient, act.global_orient[1])
    np.testing.assert_array_equal(ghost.cam_t, act.camera[1])
    names = [name for name, _ in detected.labels]
    assert len(names) == 5 and names[0] == NAMES[int(np.argmax(act.probs[0]))]


def test_boxes_and_thumbnail_sightings_come_from_detections_only() -> None:
    track = _track(4, [True, False, True], [True] * 3, first_frame=7)
    boxes = _boxes_xyxy(track)
    assert np.isnan(boxes[1]).all()
    x, y, w, h = track.boxes_tlwh[2]
    np.testing.assert_allclose(boxes[2], [x, y, x + w, y + h], rtol=1e-6)
    assert [s.frame_index for s in _sightings({4: track})] == [7, 9]


def test_tracks_pkl_layout_is_built_without_touching_the_records() -> None:
    track = _track(1, [True, False, True], [True] * 3)
    detection = {"global_orient": np.eye(3)[None], "body_pose": np.zeros((23, 3, 3)), "betas": np.zeros(10)}
    records = {
        f"v/img/{i + 1:06d}.jpg": {
            "tid": [1, 8],
            "tracked_time": [0 if i != 1 else 1, 0],
            "smpl": [detection, detection],
            "camera": [np.ones(3, np.float32), np.zeros(3, np.float32)],
            "tracked_ids": [1, 8] if i != 1 else [8],
        }
        for i in range(3)
    }
    before = copy.deepcopy(records)
    act = _actions(track)
    out = lart_results(records, list(records), {1: act})
    for key, frame in records.items():  # the tracker's records are exactly as they were
        assert frame["tracked_time"] == before[key]["tracked_time"] and frame["smpl"][0] is detection
    ghost = out["v/img/000002.jpg"]
    assert ghost["tracked_time"] == [-1, 0]
    np.testing.assert_array_equal(ghost["smpl"][0]["global_orient"], act.global_orient[1])
    np.testing.assert_array_equal(ghost["camera"][0], act.camera[1])
    assert ghost["smpl"][1] is detection  # other people's entries are untouched
    first = out["v/img/000001.jpg"]
    assert first["tracked_time"] == [0, 0] and first["smpl"][0] is detection
    assert first["label"] == {1: act.top_labels[0]} and first["ava_action"][1].shape == (1, 60)
    assert list(first) == [*records["v/img/000001.jpg"], "label", "ava_action"]
