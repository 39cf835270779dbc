"""Golden phalp/association: PHALP's per-frame detections -> tracker, frame by frame.

The case gives HMR2's raw outputs and the UV maps; the product's `person_3d_parameters` must reproduce
the detection records (det_*), which then feed the tracker. We load the pose predictor and the HMAR UV
encoder from the case's checkpoints through the product's loaders, run `Tracker` and compare every
frame's costs, terms, matches, ids, states, hits, ages and predictions, and the final fused UV maps.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from dataclasses import fields, replace
from typing import Any

import numpy as np
import torch
import yaml
from conftest import SMPL_SYNTHETIC
from golden.cases.compare import assert_close, assert_equal, assert_rel

from lart_demo.contracts import PersonObservation
from lart_demo.models.camera import FOCAL_LENGTH, RENDER_SIZE, person_3d_parameters
from lart_demo.models.checkpoint import assign_state_dict
from lart_demo.models.hmar import UVAutoencoder
from lart_demo.models.hmar import checkpoint_filter_fn as hmar_checkpoint_filter_fn
from lart_demo.models.pose_predictor import load_pose_predictor
from lart_demo.models.smpl import load_smpl
from lart_demo.safe_load import load_torch
from lart_demo.stages.tracking.phalp import Tracker, TrackerConfig, association_costs

ENCODER_CONVS = ("conv1x", "conv2", "conv3", "conv4", "conv5", "conv5_1")


class _UVEncoder:
    """The encoder half of HMAR's UV autoencoder: all the association uses of HMAR (and all this case ships)."""

    def __init__(self, path: pathlib.Path) -> None:
        sd = hmar_checkpoint_filter_fn(load_torch(path))
        enc = {k[len("encoding_head.") :]: v for k, v in sd.items() if k.startswith("encoding_head.")}
        channels = tuple(int(enc[f"{c}.weight"].shape[0]) for c in ENCODER_CONVS)
        self.head = UVAutoencoder(channels, with_decoder=False).eval()  # type: ignore[arg-type]
        assign_state_dict(self.head, enc, model_name="HMAR UV encoder")

    def encode_uv(self, uv: torch.Tensor) -> torch.Tensor:
        return self.head.encode(uv).flatten(1)


def _pose_predictor(case_dir: pathlib.Path, config: dict, mean_std: np.ndarray):
    # the product loader reads the released files: write the case's config and statistics in their layout
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = pathlib.Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump({"configs": config["pose_predictor_configs"]}))
        ms_path = pathlib.Path(tmp) / "mean_std.npy"
        np.save(ms_path, mean_std)
        return load_pose_predictor(case_dir / "checkpoint.ckpt", cfg_path, mean_std=ms_path)


def _observations(inp: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> list[list[PersonObservation]]:
    """Per frame, the kept detections as the tracker consumed them.

    The product's `person_3d_parameters` must reproduce the reference records (det_*) at the stage-1
    tolerance; the tracker then starts from the reference records themselves, so that the association
    is compared at its own tolerances (tiny C terms amplify float32 rounding of the camera).
    """
    smpl = load_smpl(SMPL_SYNTHETIC / "SMPL_NEUTRAL.pkl", SMPL_SYNTHETIC / "SMPL_to_J19.pkl")
    kept = np.flatnonzero(inp["raw_kept_by_size_filter"])
    h, w = (int(v) for v in inp["image_hw"])
    box = inp["raw_bbox_xyxy"][kept]
    center = np.stack([(box[:, 2] + box[:, 0]) / 2, (box[:, 3] + box[:, 1]) / 2], axis=1)
    scale = np.stack([box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]], axis=1)
    p = person_3d_parameters(
        smpl,
        inp["raw_global_orient"][kept],
        inp["raw_body_pose"][kept],
        inp["raw_betas"][kept],
        inp["raw_pred_cam"][kept],
        center,
        scale,
        (h, w),
    )
    n = len(kept)
    joints_2d = p["joints_2d"].reshape(n, -1) / RENDER_SIZE
    assert_equal("det_frame", inp["raw_frame"][kept], out["det_frame"])
    assert_close("det_camera", p["cam_t"], out["det_camera"], atol=1e-5, rtol=1e-5)
    assert_close("det_3d_joints", p["joints_3d"], out["det_3d_joints"], atol=1e-5)
    assert_close("det_2d_joints", joints_2d, out["det_2d_joints"], atol=1e-5)
    assert_close("det_pose", p["pose_vec"], out["det_pose"], atol=1e-5, rtol=1e-5)
    assert_close("det_loca", p["loca"], out["det_loca"], atol=1e-5, rtol=1e-5)
    tlwh = np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], axis=1)
    assert_close("det_bbox", tlwh, out["det_bbox"], atol=1e-4)
    frames: list[list[PersonObservation]] = [[] for _ in inp["frame_names"]]
    for i, r in enumerate(kept):
        frames[int(inp["raw_frame"][r])].append(
            PersonObservation(
                frame_index=int(inp["raw_frame"][r]),
                bbox_xyxy=box[i],
                score=float(inp["raw_score"][r]),
                center=center[i],
                scale=scale[i],
                global_orient=inp["raw_global_orient"][r],
                body_pose=inp["raw_body_pose"][r],
                betas=inp["raw_betas"][r],
                pred_cam=inp["raw_pred_cam"][r],
                cam_t=out["det_camera"][i],
                joints_3d=out["det_3d_joints"][i],
                joints_2d=out["det_2d_joints"][i],
                pose_vec=out["det_pose"][i],
                loca=out["det_loca"][i],
                uv=inp["kept_uv"][i],
            )
        )
    return frames


def _ids(row: np.ndarray) -> list[int]:
    return [int(v) for v in row if v >= 0]


def config_from_phalp(phalp: dict[str, Any], **changes: Any) -> TrackerConfig:
    """Our tracker configuration from the case's upstream `cfg.phalp` mapping; keys we do not have are ignored."""
    known = {f.name for f in fields(TrackerConfig)}
    return replace(TrackerConfig(**{k: v for k, v in phalp.items() if k in known}), **changes)


def check(case_dir: pathlib.Path) -> None:
    config = json.loads((case_dir / "config.json").read_text())
    with np.load(case_dir / "inputs.npz") as f:
        inp = {k: f[k] for k in f.files}
    with np.load(case_dir / "outputs.npz") as f:
        out = {k: f[k] for k in f.files}
    assert float(config["EXTRA.FOCAL_LENGTH"]) == FOCAL_LENGTH and int(config["render.res"]) == RENDER_SIZE
    # every pair's appearance term is computed for the comparison; the default skips pairs already
    # decided by the other factors, which must not change the capped costs (checked every frame)
    tracker_config = config_from_phalp(config["phalp"], skip_decided_appearance=False)
    fast_config = config_from_phalp(config["phalp"])
    assert fast_config.skip_decided_appearance
    encoder = _UVEncoder(case_dir / "checkpoint.pth")
    predictor = _pose_predictor(case_dir, config, inp["mean_std"])
    tracker = Tracker(tracker_config, predictor, encoder)

    with torch.no_grad():
        appe = encoder.encode_uv(torch.from_numpy(inp["kept_uv"])).numpy()
    assert_close("det_appe", appe, out["det_appe"], atol=1e-4, rtol=1e-4)

    th = tracker_config.hungarian_th
    for t, people in enumerate(_observations(inp, out)):
        tracker.predict()
        samples = [
            (tr.predicted_appe[-1], tr.predicted_loca[-1], tr.predicted_pose[-1], tr.predicted_uv[-1])
            for tr in tracker.tracks
        ]
        dets = [(p.appe, p.loca, p.pose_vec, p.uv) for p in people]
        rec = tracker.update(people, t)
        if samples and dets:
            fast_cost, _ = association_costs(samples, dets, fast_config, encoder)
            capped_fast, capped_full = np.minimum(fast_cost, th + 1e-5), np.minimum(rec.cost, th + 1e-5)
            assert_close(f"frame {t} capped cost with skipped pairs", capped_fast, capped_full, atol=0, rtol=1e-6)
        n_c, n_d = int(out["n_candidates"][t]), int(out["n_detections"][t])
        assert len(people) == n_d, f"frame {t}: {len(people)} detections, reference {n_d}"
        assert rec.candidate_ids == _ids(out["candidate_ids"][t]), f"frame {t} candidates"
        if n_c and n_d:
            terms = rec.terms
            assert_rel(f"frame {t} term_A", terms["A"], out["term_A"][t, :n_c, :n_d], 1e-4)
            for name in ("P", "L", "N"):
                assert_close(f"frame {t} term_{name}", terms[name], out[f"term_{name}"][t, :n_c, :n_d], atol=1e-4)
            for name in ("C", "CN"):
                ref = out[f"term_{name}"][t, :n_c, :n_d]
                assert_close(f"frame {t} term_{name}", terms[name], ref, atol=0, rtol=1e-5)
            assert_close(f"frame {t} cost", rec.cost, out["cost"][t, :n_c, :n_d], atol=0, rtol=1e-4)
            capped = np.where(rec.cost > th, th + 1e-5, rec.cost)
            assert_close(f"frame {t} cost_capped", capped, out["cost_capped"][t, :n_c, :n_d], atol=0, rtol=1e-4)
        ref_matches = [(int(a), int(b)) for a, b in out["matches"][t] if a >= 0]
        assert rec.matches == ref_matches, f"frame {t} matches {rec.matches} != {ref_matches}"
        assert rec.unmatched_track_ids == _ids(out["unmatched_track_ids"][t]), f"frame {t} unmatched tracks"
        assert rec.unmatched_detections == _ids(out["unmatched_dets"][t]), f"frame {t} unmatched detections"
        assert rec.matched_batch == _ids(out["acc_batch_matched"][t]), f"frame {t} matched batch"
        assert rec.unmatched_batch == _ids(out["acc_batch_unmatched"][t]), f"frame {t} unmatched batch"

        ids = _ids(out["track_ids"][t])
        k = len(ids)
        assert [tr.track_id for tr in tracker.tracks] == ids, f"frame {t} track ids"
        assert_equal(f"frame {t} states", [int(tr.state) for tr in tracker.tracks], out["track_state"][t, :k])
        assert_equal(f"frame {t} hits", [tr.hits for tr in tracker.tracks], out["track_hits"][t, :k])
        assert_equal(f"frame {t} ages", [tr.age for tr in tracker.tracks], out["track_age"][t, :k])
        since = [tr.time_since_update for tr in tracker.tracks]
        assert_equal(f"frame {t} time_since_update", since, out["track_time_since_update"][t, :k])
        pred_pose = np.stack([tr.predicted_pose[-1] for tr in tracker.tracks])
        pred_loca = np.stack([tr.predicted_loca[-1] for tr in tracker.tracks])
        assert_close(f"frame {t} track_pred_pose", pred_pose, out["track_pred_pose"][t, :k], atol=1e-4)
        assert_close(f"frame {t} track_pred_loca", pred_loca, out["track_pred_loca"][t, :k], atol=1e-4)

    assert [tr.track_id for tr in tracker.tracks] == [int(v) for v in out["final_track_ids"]]
    final_uv = np.stack([tr.predicted_uv[-1] for tr in tracker.tracks])
    assert_close("final_track_uv", final_uv, out["final_track_uv"], atol=1e-6)
