"""Golden lart/fast_track: per-detection 3D parameters (stage 1) and PHALP results -> fast tracks (stage 2).

Stage 1 runs the product's `person_3d_parameters` with the synthetic SMPL; stage 2 rebuilds the
results dict from the case's entry table (as its README describes) and runs `tracks_from_results` (the
tracking stage's typed output) and `fast_track` (the PHALP arrays it is built from).
"""

from __future__ import annotations

import copy
import json
import pathlib

import numpy as np
from conftest import SMPL_SYNTHETIC
from golden.cases.compare import assert_close, assert_equal

from lart_demo.stages.tracking.tracks import fast_track, track_frames, track_ids, tracks_from_results


def _results_from_entries(inp: dict[str, np.ndarray]) -> dict[str, dict]:
    names = [str(n) for n in inp["frame_names"]]
    h, w = (int(v) for v in inp["image_hw"])
    results: dict[str, dict] = {}
    for t, name in enumerate(names):
        frame = {"time": t, "shot": 0, "frame_path": name, "tracked_ids": [], "tracked_bbox": []}
        for key in ("tid", "bbox", "tracked_time", "center", "scale", "size", "conf", "smpl", "camera"):
            frame[key] = []
        for key in ("camera_bbox", "3d_joints", "img_path", "img_name"):
            frame[key] = []
        results[name] = frame
    for r in range(len(inp["entry_frame"])):
        frame = results[names[int(inp["entry_frame"][r])]]
        tid, tracked_time = int(inp["entry_tid"][r]), int(inp["entry_tracked_time"][r])
        frame["tid"].append(tid)
        frame["bbox"].append(inp["entry_bbox_tlwh"][r].copy())
        frame["tracked_time"].append(tracked_time)
        frame["center"].append(inp["entry_center"][r].copy())
        frame["scale"].append(float(inp["entry_scale"][r]))
        frame["size"].append([h, w])
        frame["conf"].append(inp["entry_conf"][r])
        frame["smpl"].append(
            {
                "global_orient": inp["entry_global_orient"][r].copy(),
                "body_pose": inp["entry_body_pose"][r].copy(),
                "betas": inp["entry_betas"][r].copy(),
            }
        )
        frame["camera"].append(inp["entry_camera"][r].copy())
        frame["camera_bbox"].append(inp["entry_camera_bbox"][r].copy())
        frame["3d_joints"].append(inp["entry_3d_joints"][r].copy())
        frame["img_path"].append(frame["frame_path"])
        frame["img_name"].append(frame["frame_path"].split("/")[-1])
        if tracked_time == 0:
            frame["tracked_ids"].append(tid)
            frame["tracked_bbox"].append(frame["bbox"][-1])
    return results


def _check_stage2(inp: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
    results = _results_from_entries(inp)
    before = copy.deepcopy(results)
    fast = {tid: fast_track(track_frames(results, tid)) for tid in track_ids(results)}
    typed = tracks_from_results(results)
    # the default leaves the caller's results untouched
    for name, frame in results.items():
        for a, b in zip(frame["camera"], before[name]["camera"], strict=True):
            assert_equal(f"{name} camera untouched", a, b)
    assert_equal("tracks_order", np.array(track_ids(results)), out["tracks_order"])
    assert list(fast) == [int(t) for t in out["tracks_order"]]
    for tid, track in fast.items():
        p = f"tid{tid}__"
        for key in ("fid", "pose_shape", "3d_joints", "camera", "camera_bbox", "has_detection"):
            assert track[key].dtype == np.float64, f"{p}{key} dtype {track[key].dtype}"
            assert_equal(p + key, track[key], out[p + key])
        assert_equal(p + "frame_name", np.array(track["frame_name"]), out[p + "frame_name"])
        assert_equal(p + "frame_size", np.stack(track["frame_size"]), out[p + "frame_size"])
        assert_equal(p + "frame_bbox", np.stack(track["frame_bbox"]).astype(np.float64), out[p + "frame_bbox"])
        assert_equal(p + "frame_conf", np.array(track["frame_conf"], dtype=np.float64), out[p + "frame_conf"])
        assert_equal(
            p + "smpl_is_dict", np.array([isinstance(s, dict) for s in track["smpl"]]), out[p + "smpl_is_dict"]
        )
        t = typed[tid]  # the same arrays in the Track the later stages read
        n = len(t)
        assert_equal(p + "fid (Track)", t.frame_index.astype(np.float64), out[p + "fid"].reshape(n))
        assert_equal(p + "pose_shape (Track)", t.pose_shape, out[p + "pose_shape"].reshape(n, -1))
        assert_equal(p + "3d_joints (Track)", t.joints_3d, out[p + "3d_joints"].reshape(n, -1, 3))
        assert_equal(p + "camera (Track)", t.camera, out[p + "camera"].reshape(n, 3))
        assert_equal(p + "camera_bbox (Track)", t.camera_bbox, out[p + "camera_bbox"].reshape(n, 3))
        assert_equal(p + "has_detection (Track)", t.has_detection, out[p + "has_detection"].reshape(n) > 0)
        assert_equal(p + "frame_bbox (Track)", t.boxes_tlwh, out[p + "frame_bbox"].reshape(n, 4))
        assert_equal(p + "frame_conf (Track)", t.box_conf, out[p + "frame_conf"])

    # upstream's post-processing divides tz of its deep copy in place: mutate_camera reproduces it
    mutated = copy.deepcopy(results)
    for tid in track_ids(mutated):
        fast_track(track_frames(mutated, tid), mutate_camera=True)
    for tid in track_ids(results):
        cams = [
            frame["camera"][frame["tid"].index(tid)]
            for frame in mutated.values()
            if tid in frame["tid"] and frame["tracked_time"][frame["tid"].index(tid)] == 0
        ]
        key = f"tid{tid}__results_copy_camera_after"
        assert_equal(key, np.stack(cams), out[key])


def _check_stage1(case_dir: pathlib.Path, inp: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
    from lart_demo.models.camera import FOCAL_LENGTH, RENDER_SIZE, person_3d_parameters
    from lart_demo.models.smpl import load_smpl

    config = json.loads((case_dir / "config.json").read_text())
    phalp = config["phalp"]
    assert float(phalp["EXTRA.FOCAL_LENGTH"]) == FOCAL_LENGTH and int(phalp["render.res"]) == RENDER_SIZE
    smpl = load_smpl(SMPL_SYNTHETIC / "SMPL_NEUTRAL.pkl", SMPL_SYNTHETIC / "SMPL_to_J19.pkl")
    h, w = (int(v) for v in inp["image_hw"])
    box = inp["det_bbox_xyxy"]  # float32, as PHALP computes centre and size from the detector box
    center = np.stack([(box[:, 2] + box[:, 0]) / 2, (box[:, 3] + box[:, 1]) / 2], axis=1)
    scale = np.stack([box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]], axis=1)
    params = person_3d_parameters(
        smpl,
        inp["det_global_orient"],
        inp["det_body_pose"],
        inp["det_betas"],
        inp["det_pred_cam"],
        center,
        scale,
        (h, w),
    )
    n = len(box)
    assert_close("stage1_camera", params["cam_t"], out["stage1_camera"], atol=1e-5, rtol=1e-5)
    assert_close("stage1_3d_joints", params["joints_3d"], out["stage1_3d_joints"], atol=1e-5)
    joints_2d = params["joints_2d"].reshape(n, -1) / RENDER_SIZE
    assert_close("stage1_2d_joints", joints_2d, out["stage1_2d_joints"], atol=1e-5)
    assert_close("stage1_pose", params["pose_vec"], out["stage1_pose"], atol=1e-5, rtol=1e-5)
    assert_close("stage1_loca", params["loca"], out["stage1_loca"], atol=1e-5, rtol=1e-5)


def check(case_dir: pathlib.Path) -> None:
    with np.load(case_dir / "inputs.npz") as f:
        inp = {k: f[k] for k in f.files}
    with np.load(case_dir / "outputs.npz") as f:
        out = {k: f[k] for k in f.files}
    _check_stage2(inp, out)
    _check_stage1(case_dir, inp, out)
