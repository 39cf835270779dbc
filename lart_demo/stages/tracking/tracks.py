"""Per-frame tracking records (PHALP results pkl layout) and per-track arrays ("fast tracks") for LART.

`ResultsRecorder` writes, after every tracker update, what `PHALP.track` writes into its results
dict (spec 6.1): one ordered entry per frame with per-track lists, confirmed tracks only, ghosts
(`tracked_time > 0`) repeating their last detection, and the back-fill of the n_init - 1 frames
before a confirmation. `write_results`/`read_results` store it as PHALP does (joblib, compress=3), so
tools built for PHALP's `demo_<video>.pkl` read ours.

`tracks_from_results` is PHALP's `get_tracks` + `create_fast_tracklets` (spec 6.2): for every track id,
a typed `Track` over the frames from its first to its last detection, with the `tz / 200` camera quirk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from lart_demo.contracts import PersonObservation, Track
from lart_demo.errors import InputError
from lart_demo.safe_load import PHALP_RESULTS, load_joblib
from lart_demo.stages.tracking.phalp import Tracker

FAST_TRACK_POSE_DIM = 229
FAST_TRACK_JOINTS = 45

# per-track list keys of a PHALP results frame (spec 6.1, render disabled as in the LART demo's tracking pass)
TRACK_KEYS = (
    "tid",
    "bbox",
    "tracked_time",
    "center",
    "scale",
    "size",
    "img_path",
    "img_name",
    "class_name",
    "conf",
    "annotations",
    "smpl",
    "camera",
    "camera_bbox",
    "3d_joints",
    "2d_joints",
    "mask",
    "extra_data",
)
DETECTED_KEYS = ("tracked_ids", "tracked_bbox")


def frame_key(video_name: str, index: int) -> str:
    """The results key of frame `index` (0-based), shaped like PHALP's extracted-jpg paths."""
    return f"{video_name}/img/{index + 1:06d}.jpg"


# ---- masks: COCO run-length encoding (pycocotools' compressed string format) -------------------------
def encode_mask_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a boolean (H, W) mask: {'size': [H, W], 'counts': str}.

    Vectorised over runs: each run length (from the 4th on, minus the run two back) is written as 5-bit
    groups, least significant first, with 0x20 meaning "more follows", as pycocotools' rleToString.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    flat = mask.flatten(order="F").astype(np.int8)  # COCO runs go down columns
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).astype(np.int64)
    if flat.size and flat[0] == 1:
        runs = np.concatenate([[0], runs])  # counts always start with a run of zeros
    values = runs.copy()
    values[3:] -= runs[1:-2]
    groups, active = [], np.ones(values.shape, dtype=bool)
    while active.any():  # a few rounds: 5 bits per round
        c = values & 0x1F
        values = values >> 5  # arithmetic shift: negative deltas keep their sign bits
        more = np.where(c & 0x10, values != -1, values != 0)
        groups.append(np.where(active, np.where(more, c | 0x20, c) + 48, 0))
        active &= more
    chars = np.stack(groups, axis=1).ravel()  # run by run, its groups in order; 0 = no character
    return {"size": [int(h), int(w)], "counts": chars[chars > 0].astype(np.uint8).tobytes().decode("ascii")}


# ---- per-frame records ------------------------------------------------------------------------------
def observation_record(
    obs: PersonObservation, key: str, image_size: tuple[int, int], detection_index: int
) -> dict[str, Any]:
    """What PHALP stores of one detection (its `detection_data` minus the tracking embeddings)."""
    h, w = int(image_size[0]), int(image_size[1])
    x1, y1, x2, y2 = np.asarray(obs.bbox_xyxy, dtype=np.float32)
    box_w, box_h = x2 - x1, y2 - y1
    return {
        "bbox": np.array([x1, y1, box_w, box_h], dtype=np.float32),
        "conf": np.float32(obs.score),
        "center": np.array([(x1 + x2) / 2, (y1 + y2) / 2], dtype=np.float32),
        "scale": float(max(box_w, box_h)) / max(h, w),
        "size": [h, w],
        "img_path": key,
        "img_name": key.split("/")[-1],
        "class_name": 0,
        "annotations": [],
        "smpl": {
            "global_orient": np.asarray(obs.global_orient, dtype=np.float32),
            "body_pose": np.asarray(obs.body_pose, dtype=np.float32),
            "betas": np.asarray(obs.betas, dtype=np.float32),
        },
        "camera": np.asarray(obs.cam_t, dtype=np.float32),
        "camera_bbox": np.asarray(obs.pred_cam, dtype=np.float32),
        "3d_joints": np.asarray(obs.joints_3d, dtype=np.float32),
        "2d_joints": np.asarray(obs.joints_2d, dtype=np.float32),
        "mask": [encode_mask_rle(obs.mask)] if obs.mask is not None else [],
        "extra_data": int(detection_index),
    }


class ResultsRecorder:
    """Builds the PHALP results dict frame by frame from the tracker's state after each update."""

    def __init__(self, n_init: int) -> None:
        self.n_init = n_init
        self.results: dict[str, dict[str, Any]] = {}
        self._key_of_time: dict[int, str] = {}
        # one record per observation still in some track's history, shared by every entry that repeats
        # it (PHALP's entries share the detection's arrays too)
        self._records: dict[int, dict[str, Any]] = {}

    def add_frame(
        self,
        key: str,
        time: int,
        tracker: Tracker,
        observations: list[PersonObservation],
        image_size: tuple[int, int],
        shot: bool = False,
    ) -> None:
        """Record frame `time` (call right after `tracker.update` for that frame's `observations`)."""
        frame: dict[str, Any] = {"time": int(time), "shot": int(shot), "frame_path": key}
        for k in TRACK_KEYS + DETECTED_KEYS:
            frame[k] = []
        self.results[key] = frame
        self._key_of_time[int(time)] = key
        for i, obs in enumerate(observations):
            self._records[id(obs)] = observation_record(obs, key, image_size, i)
        for track in tracker.tracks:
            if not track.is_confirmed():
                continue
            self._append(frame, track.track_id, track.time_since_update, self._records[id(track.last.observation)])
            if track.time_since_update == 0 and track.hits == self.n_init:
                # confirmation back-fills the frames of the earlier hits (PHALP: history[-2-k])
                for back in range(self.n_init - 1):
                    entry = track.history[-2 - back]
                    rec = self._records[id(entry.observation)]
                    self._append(self.results[self._key_of_time[entry.time]], track.track_id, 0, rec)
        live = {id(h.observation) for tr in tracker.tracks for h in tr.history}
        self._records = {k: v for k, v in self._records.items() if k in live}

    @staticmethod
    def _append(frame: dict[str, Any], tid: int, tracked_time: int, rec: dict[str, Any]) -> None:
        frame["tid"].append(tid)
        frame["tracked_time"].append(tracked_time)
        for k in TRACK_KEYS:
            if k not in ("tid", "tracked_time"):
                frame[k].append(rec[k])
        if tracked_time == 0:
            frame["tracked_ids"].append(tid)
            frame["tracked_bbox"].append(rec["bbox"])

    def finish(self) -> dict[str, dict[str, Any]]:
        """The results dict (frame key -> frame dict, in frame order)."""
        return self.results


def write_results(results: Mapping[str, Any], path: str | Path, random_weights: bool = False) -> Path:
    """Store a results dict like PHALP (joblib, compress=3).

    With `random_weights`, every frame dict also carries `"random_weights": True` (PHALP's readers
    ignore keys they do not know), so the file says itself that its contents are meaningless.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {key: {**frame, "random_weights": True} for key, frame in results.items()} if random_weights else results
    joblib.dump(dict(data), path, compress=3)
    return path


def read_results(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a PHALP-format results pkl (ours or PHALP's own demo_<video>.pkl).

    Read through safe_load's PHALP_RESULTS allow-list: plain containers and numpy arrays, nothing that runs.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Tracking results not found: {path}. Run `python -m lart_demo track VIDEO --out DIR` first.")
    data = load_joblib(path, PHALP_RESULTS)
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) and "tid" in v for v in data.values()):
        raise InputError(f"{path.name} is not a PHALP results file (a dict of frames with 'tid' lists).")
    return dict(data)


# ---- fast tracks ---------------------------------------------------------------------------------------
def track_ids(results: Mapping[str, Mapping[str, Any]]) -> list[int]:
    """Every id detected at least once, in PHALP's order (a python set of ints)."""
    ids: list[int] = []
    for frame in results.values():
        ids += list(frame["tracked_ids"])
    return list(set(ids))


def track_frames(results: Mapping[str, Mapping[str, Any]], tid: int) -> list[dict[str, Any]]:
    """Per-frame view of one track from its first to its last detection (PHALP get_tracks)."""
    rows: list[dict[str, Any]] = []
    for fid, (name, frame) in enumerate(results.items()):
        tids = list(frame["tid"])
        idx = tids.index(tid) if tid in tids else -1
        if idx >= 0 and frame["tracked_time"][idx] == 0:
            row = {k: frame[k][idx] for k in ("bbox", "center", "scale", "conf", "size", "smpl", "camera")}
            row.update({k: frame[k][idx] for k in ("camera_bbox", "img_path", "img_name", "3d_joints")})
            row.update(track_id=tid, has_detection=True, time=0, entry_index=idx)
        else:
            row = {"track_id": -1, "has_detection": False, "time": -1, "bbox": None, "size": None}
        row.update(frame_name=name, fid=fid, frame_path=frame.get("frame_path", name))
        rows.append(row)
    detected = [i for i, r in enumerate(rows) if r["has_detection"]]
    if not detected:
        return []
    return rows[detected[0] : detected[-1] + 1]


def fast_track(rows: list[dict[str, Any]], mutate_camera: bool = False) -> dict[str, Any]:
    """Arrays over a track's frames (PHALP create_fast_tracklets); float64 arrays holding float32 values.

    `camera` and `pose_shape[..., 228]` hold tz / 200 (spec 10.11). Upstream gets there by dividing the
    results' own camera array in place; `mutate_camera=True` does that too (pass a copy of the results,
    as upstream's post-processing does), otherwise the input is left untouched.
    """
    n = len(rows)
    out: dict[str, Any] = {
        "fid": np.full((n, 1, 1), -1.0),
        "pose_shape": np.zeros((n, 1, FAST_TRACK_POSE_DIM)),
        "3d_joints": np.zeros((n, 1, FAST_TRACK_JOINTS, 3)),
        "camera": np.zeros((n, 1, 3)),
        "camera_bbox": np.zeros((n, 1, 3)),
        "has_detection": np.zeros((n, 1, 1)),
        "frame_name": [],
        "frame_size": [],
        "frame_bbox": [],
        "frame_conf": [],
        "smpl": [],
    }
    for i, row in enumerate(rows):
        out["fid"][i, 0, 0] = row["fid"]
        if row["has_detection"]:
            smpl = row["smpl"]
            camera = row["camera"] if mutate_camera else np.array(row["camera"], copy=True)
            cam = camera.reshape(1, -1)
            cam[0, 2] = cam[0, 2] / 200.0  # same dtype arithmetic as upstream (float32 / python float)
            out["pose_shape"][i, 0] = np.hstack(
                [
                    np.asarray(smpl["global_orient"]).reshape(1, -1),
                    np.asarray(smpl["body_pose"]).reshape(1, -1),
                    np.asarray(smpl["betas"]).reshape(1, -1),
                    cam,
                ]
            )[0]
            out["3d_joints"][i, 0] = row["3d_joints"]
            out["camera"][i, 0] = cam[0]
            out["camera_bbox"][i, 0] = row["camera_bbox"]
            out["has_detection"][i, 0, 0] = 1
            out["smpl"].append(smpl)
        else:
            out["smpl"].append(-1)
        out["frame_name"].append(row["frame_name"])
        out["frame_size"].append(np.array(row["size"]) if row["has_detection"] else np.array([0, 0]))
        out["frame_bbox"].append(row["bbox"] if row["has_detection"] else np.array([0.0, 0.0, 0.0, 0.0]))
        out["frame_conf"].append(row["conf"] if row["has_detection"] else 0)
    return out


# ---- the tracking stage's output: typed tracks ------------------------------------------------------------
def _stacked(values: list[Any], shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=dtype).reshape(shape) for v in values]) if values else np.zeros((0, *shape))


def track_from_rows(tid: int, rows: list[dict[str, Any]], listed: list[bool]) -> Track:
    """One `Track` from a track's per-frame rows (`track_frames`), with the fast track's arrays and quirks."""
    fast = fast_track(rows)
    n = len(rows)
    zero_smpl = {
        "global_orient": np.zeros((1, 3, 3), np.float32),
        "body_pose": np.zeros((23, 3, 3), np.float32),
        "betas": np.zeros(10, np.float32),
    }
    smpl = [row["smpl"] if row["has_detection"] else zero_smpl for row in rows]
    return Track(
        track_id=int(tid),
        frame_index=fast["fid"].reshape(n).astype(np.int64),
        has_detection=fast["has_detection"].reshape(n) > 0,
        listed=np.asarray(listed, dtype=bool).reshape(n),
        boxes_tlwh=_stacked(fast["frame_bbox"], (4,), np.float64),
        box_conf=np.asarray(fast["frame_conf"], dtype=np.float64).reshape(n),
        global_orient=_stacked([m["global_orient"] for m in smpl], (1, 3, 3), np.float32),
        body_pose=_stacked([m["body_pose"] for m in smpl], (23, 3, 3), np.float32),
        betas=_stacked([m["betas"] for m in smpl], (10,), np.float32),
        cam_t=_stacked([row["camera"] if row["has_detection"] else np.zeros(3) for row in rows], (3,), np.float32),
        camera_bbox=fast["camera_bbox"].reshape(n, 3),
        joints_3d=fast["3d_joints"].reshape(n, FAST_TRACK_JOINTS, 3),
        camera=fast["camera"].reshape(n, 3),
        pose_shape=fast["pose_shape"].reshape(n, FAST_TRACK_POSE_DIM),
    )


def tracks_from_results(results: Mapping[str, Mapping[str, Any]]) -> dict[int, Track]:
    """Every detected identity as a `Track`, in PHALP's id order: the tracking stage's typed output."""
    frames = list(results.values())
    out: dict[int, Track] = {}
    for tid in track_ids(results):
        rows = track_frames(results, tid)
        listed = [tid in frames[int(row["fid"])]["tid"] for row in rows]
        out[tid] = track_from_rows(tid, rows, listed)
    return out
