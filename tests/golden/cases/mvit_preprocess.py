"""Golden mvit/preprocess: LART's add_slowfast_features (chunking, crop, resize, boxes, clip, features)."""

from __future__ import annotations

import pathlib

import numpy as np
import torch
from golden.cases.compare import assert_close, assert_equal, assert_rel

from lart_demo.models.mvit import load_mvit
from lart_demo.stages.appearance import (
    TrackBoxes,
    aspect_crop,
    compute_appearance,
    cropped_box,
    model_box,
    normalize_clips,
    plan_track_chunks,
    preprocess_frame,
    temporal_index,
    window_offsets,
)

# README: indices/crops/int boxes exact; boxes 1e-4 abs; clip exact with cv2 (bound for a float resize given
# as |x - ref| <= 0.0175 + 1e-5 and mean <= 1e-3, we hold the exact one); features 1e-4 relative.
BOX_ATOL = 1e-4
FEATURE_TOL = 1e-4


def _track_ids(names: list[str]) -> list[int]:
    return sorted({int(n.split("_")[0].removeprefix("track")) for n in names if n.startswith("track")})


def check(case_dir: pathlib.Path) -> None:
    model = load_mvit(case_dir / "checkpoint.pyth", case_dir / "config.json")
    cfg = model.config
    inputs = np.load(case_dir / "inputs.npz")
    ref = np.load(case_dir / "outputs.npz")
    track_ids = _track_ids(list(ref.files))
    assert track_ids, "no track outputs in the golden case"
    for k in track_ids:
        key = f"track{k}_"
        frames_rgb = inputs[key + "frames_bgr"][..., ::-1]  # upstream read BGR PNGs; our stage gets RGB
        bbox = inputs[key + "frame_bbox"]
        hw = (frames_rgb.shape[1], frames_rgb.shape[2])
        plans = plan_track_chunks(bbox, cfg)

        assert_equal(key + "chunk_start", [p.start for p in plans], ref[key + "chunk_start"])
        assert_equal(key + "chunk_end", [p.end for p in plans], ref[key + "chunk_end"])
        assert_equal(key + "chunk_mid", [p.mid for p in plans], ref[key + "chunk_mid"])
        assert_equal(key + "window_idx", np.stack([p.window for p in plans]), ref[key + "window_idx"])
        window_len = len(window_offsets(cfg.seq_length))
        assert_equal(key + "temporal_index", temporal_index(window_len, cfg.num_frames), ref[key + "temporal_index"])
        assert_equal(key + "sampled_idx", np.stack([p.sampled for p in plans]), ref[key + "sampled_idx"])
        assert_equal(key + "box_int_xyxy", np.stack([p.box_xyxy for p in plans]), ref[key + "box_int_xyxy"])
        crop = np.asarray(aspect_crop(*hw), dtype=np.int64)
        assert_equal(key + "crop_window", np.stack([crop] * len(plans)), ref[key + "crop_window"])
        boxes_cropped = np.stack([cropped_box(p.box_xyxy, hw) for p in plans])
        assert_close(key + "box_cropped", boxes_cropped, ref[key + "box_cropped"], atol=BOX_ATOL)
        boxes = np.stack([np.concatenate([[0.0], model_box(p.box_xyxy, hw, cfg.crop_size)])[None] for p in plans])
        assert_close(key + "boxes_model", boxes, ref[key + "boxes_model"], atol=BOX_ATOL)

        clips = np.stack([np.stack([preprocess_frame(frames_rgb[i], cfg.crop_size) for i in p.sampled]) for p in plans])
        clip_t = normalize_clips(torch.from_numpy(clips), cfg.mean, cfg.std)
        assert_close(key + "clip", clip_t, ref[key + "clip"], atol=1e-6)

        # The production path: one streamed pass over the frames, clips batched across chunks.
        track = TrackBoxes(fid=np.arange(len(bbox)), frame_bbox=bbox)
        out = compute_appearance(enumerate(frames_rgb), {k: track}, model)[k]
        assert_rel(key + "apperance_emb", out.embedding, ref[key + "apperance_emb"], FEATURE_TOL)
        assert_rel(key + "action_emb", out.action_logits, ref[key + "action_emb"], FEATURE_TOL)
        assert_equal(key + "apperance_index", out.chunk_index, ref[key + "apperance_index"])
