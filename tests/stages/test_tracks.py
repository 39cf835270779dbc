"""Per-frame PHALP records, the results pkl, mask RLE and fast tracks (the golden lart/fast_track covers the
array contents; these cover what the recorder writes and the file round trip)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from tracking_scenes import ScriptedPerson, scene_frames

from lart_demo.errors import InputError
from lart_demo.stages.tracking.phalp import Tracker, TrackerConfig
from lart_demo.stages.tracking.tracks import (
    ResultsRecorder,
    encode_mask_rle,
    frame_key,
    read_results,
    tracks_from_results,
    write_results,
)


def _runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO counts, written independently: alternating runs (zeros first) down the columns."""
    flat = mask.T.reshape(-1)
    runs, value, count = [], False, 0
    for v in flat:
        if bool(v) == value:
            count += 1
        else:
            runs.append(count)
            value, count = not value, 1
    runs.append(count)
    return runs


def decode_mask_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """Inverse of `encode_mask_rle` (pycocotools' decoder, for the round trip)."""
    h, w = rle["size"]
    counts: list[int] = []
    s = rle["counts"]
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for count in counts:
        flat[pos : pos + count] = value
        pos += count
        value = not value
    return flat.reshape((w, h)).T


def test_rle_known_strings() -> None:
    assert encode_mask_rle(np.zeros((3, 3), bool)) == {"size": [3, 3], "counts": "9"}
    one = np.zeros((2, 2), bool)
    one[0, 0] = True
    assert encode_mask_rle(one)["counts"] == "013"  # runs 0, 1, 3
    four = np.zeros((2, 5), bool)
    four[1, 0] = four[0, 1] = True
    four[:, 3:] = True  # column-major 0 1 1 0 0 0 1 1 1 1 -> runs 1, 2, 3, 4; from the 4th on, minus the run 2 back
    assert _runs(four) == [1, 2, 3, 4]
    assert encode_mask_rle(four)["counts"] == "123" + chr(48 + 4 - 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rle_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((37, 53)) > 0.6
    mask[:5] = True  # long runs need several 5-bit groups and negative deltas
    mask[:, 40:] = False
    rle = encode_mask_rle(mask)
    assert rle["size"] == [37, 53]
    np.testing.assert_array_equal(decode_mask_rle(rle), mask)
    full = np.ones((64, 70), bool)
    np.testing.assert_array_equal(decode_mask_rle(encode_mask_rle(full)), full)


def _location_only_run(n_frames: int = 14) -> tuple[dict, list[list[str]]]:
    """Two people tracked with the location cue only (no models needed); B misses frames 9-10."""
    people = {n: ScriptedPerson.random(n, seed=i, uv_size=8) for i, n in enumerate("AB")}
    paths = {
        "A": {t: (0.3 + 0.004 * t, 0.5, 60.0) for t in range(n_frames)},
        "B": {t: (0.7 - 0.004 * t, 0.45, 70.0) for t in range(n_frames) if t not in (9, 10)},
    }
    frames, truth = scene_frames(people, paths, n_frames)
    cfg = TrackerConfig.lart_demo(predict="L")
    tracker = Tracker(cfg, pose_predictor=None, uv_encoder=None)
    recorder = ResultsRecorder(cfg.n_init)
    for fp in frames:
        tracker.predict()
        tracker.update(fp.people, fp.frame_index)
        recorder.add_frame(frame_key("clip", fp.frame_index), fp.frame_index, tracker, fp.people, fp.image_size)
    return recorder.finish(), truth


def test_recorder_backfills_confirmation_and_records_ghosts() -> None:
    results, truth = _location_only_run()
    keys = list(results)
    assert keys[0] == "clip/img/000001.jpg" and len(keys) == 14
    # tracks are confirmed at their 5th hit (frame 4) and back-filled to frame 0
    for t in range(4):
        frame = results[keys[t]]
        assert sorted(frame["tid"]) == [1, 2] and frame["tracked_time"] == [0, 0]
        assert sorted(frame["tracked_ids"]) == [1, 2]
    # B missed frames 9 and 10: its entry repeats the last detection with tracked_time 1, 2
    for t, age in ((9, 1), (10, 2)):
        frame = results[keys[t]]
        i = frame["tid"].index(2)
        assert frame["tracked_time"][i] == age
        assert frame["tracked_ids"] == [1]
        np.testing.assert_array_equal(frame["bbox"][i], results[keys[8]]["bbox"][results[keys[8]]["tid"].index(2)])
    frame = results[keys[11]]
    assert sorted(frame["tracked_ids"]) == [1, 2]
    # every list key is aligned with 'tid'
    for frame in results.values():
        for k in ("bbox", "tracked_time", "center", "scale", "conf", "smpl", "camera", "3d_joints", "extra_data"):
            assert len(frame[k]) == len(frame["tid"]), k
        assert len(frame["tracked_bbox"]) == len(frame["tracked_ids"])
    rec = results[keys[12]]
    i = rec["tid"].index(1)
    assert rec["bbox"][i].dtype == np.float32 and rec["bbox"][i].shape == (4,)
    assert rec["size"][i] == [720, 1280]
    assert rec["scale"][i] == pytest.approx(260.0 / 1280)
    assert rec["smpl"][i]["body_pose"].shape == (23, 3, 3)
    assert rec["img_name"][i] == "000013.jpg"


def test_tracks_from_recorded_results_have_gaps() -> None:
    results, _ = _location_only_run()
    before = copy.deepcopy(results)
    tracks = tracks_from_results(results)
    assert list(tracks) == [1, 2]
    b = tracks[2]
    assert b.pose_shape.shape == (14, 229) and b.joints_3d.shape == (14, 45, 3) and b.pose_shape.dtype == np.float64
    np.testing.assert_array_equal(b.has_detection, [t not in (9, 10) for t in range(14)])
    assert b.listed.all()  # the missed frames are ghosts the tracker kept
    np.testing.assert_array_equal(b.frame_index, np.arange(14))
    assert np.all(b.pose_shape[9] == 0) and np.all(b.boxes_tlwh[9] == 0) and np.all(b.body_pose[9] == 0)
    # tz/200 in the camera and the pose vector's last entry; cam_t and the results keep the full tz
    key = list(results)[3]
    cam = results[key]["camera"][results[key]["tid"].index(2)]
    assert b.camera[3, 2] == pytest.approx(cam[2] / 200.0)
    assert b.pose_shape[3, 228] == b.camera[3, 2]
    np.testing.assert_array_equal(b.cam_t[3], cam)
    assert cam[2] > 10
    for key, frame in results.items():  # the records are left as they were
        for a, c in zip(frame["camera"], before[key]["camera"], strict=True):
            np.testing.assert_array_equal(a, c)


def test_results_pkl_round_trip(tmp_path) -> None:
    results, _ = _location_only_run(8)
    path = write_results(results, tmp_path / "out" / "tracks.pkl")
    back = read_results(path)
    assert list(back) == list(results)
    k = list(results)[6]
    assert back[k]["tid"] == results[k]["tid"]
    np.testing.assert_array_equal(back[k]["camera"][0], results[k]["camera"][0])
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="not a PHALP results file"):
        read_results(bad)
    with pytest.raises(InputError, match="not found"):
        read_results(tmp_path / "missing.pkl")


def test_results_pkl_of_random_weights_says_so_in_every_frame(tmp_path) -> None:
    results, _ = _location_only_run(4)
    back = read_results(write_results(results, tmp_path / "r.pkl", random_weights=True))
    assert [f["random_weights"] for f in back.values()] == [True] * len(results)
    assert all("random_weights" not in f for f in results.values())  # the caller's dict is not changed
    plain = read_results(write_results(results, tmp_path / "p.pkl"))
    assert all("random_weights" not in f for f in plain.values())


def _rle_counts_one_run_at_a_time(mask: np.ndarray) -> str:
    """pycocotools' rleToString written out run by run (the reference for the vectorised encoder)."""
    flat = mask.flatten(order="F")
    runs, value, count = [], False, 0
    for pixel in flat:
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    runs.append(count)
    chars = []
    for i, run in enumerate(runs):
        x = run - (runs[i - 2] if i > 2 else 0)
        while True:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            chars.append(chr((c | 0x20 if more else c) + 48))
            if not more:
                break
    return "".join(chars)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vectorised_rle_matches_the_run_by_run_encoder(seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = [rng.random((40, 31)) > p for p in (0.1, 0.5, 0.97)]
    big = np.zeros((288, 398), bool)
    big[30:250, 20 + seed : 150 + 7 * seed] = True  # a person-sized box: long runs, large deltas
    masks += [big, ~big, np.zeros((1, 1), bool), np.ones((1, 1), bool), np.zeros((0, 5), bool)]
    for mask in masks:
        assert encode_mask_rle(mask)["counts"] == _rle_counts_one_run_at_a_time(mask)
