"""The per-frame people stage: detector -> PHALP crops -> HMR2.0 -> SMPL joints and cameras.

`find_people` streams frames in, and streams one `FramePeople` per frame out, in order. Crops of
many frames share one HMR2 forward (the batch starts at what half the free memory holds, GPU or host,
and halves whenever a batch runs out of memory). The detector and HMR2 run in the precision that
`lart_demo.precision` gives them (float32 on CPU by default); SMPL and the camera maths always run in float32.

`run_people` is `python -m lart_demo people VIDEO --out DIR`: it writes people.pkl (numpy arrays)
and people.json (the same as lists) with one record list per frame.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lart_demo.batching import AdaptiveBatches, available_bytes, batch_from_memory
from lart_demo.config import Settings
from lart_demo.contracts import Detections, FramePeople, PersonObservation
from lart_demo.device import resolve_device
from lart_demo.errors import InputError
from lart_demo.models.camera import person_3d_parameters
from lart_demo.models.crops import box_center_scale, person_crops
from lart_demo.models.detector import PersonDetector, filter_small, load_person_detector
from lart_demo.models.hmr2 import HMR2, load_hmr2
from lart_demo.models.smpl import SMPL, load_smpl
from lart_demo.precision import PrecisionPolicy, fp32_policy, precision_policy
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.video.io import iter_frames, open_clip
from lart_demo.weights.files import WeightFiles

log = logging.getLogger(__name__)

STAGE_NAME = "Finding people"
CPU_BATCH = 8  # crops per HMR2 forward on CPU at most (larger batches do not run faster there)
CUDA_MAX_BATCH = 128  # crops per HMR2 forward on a GPU at most; halved on out-of-memory
BYTES_PER_CROP = 32 << 20  # generous bound on ViT-H inference activations per crop (float32; half in bf16)
MAX_PENDING_FRAMES = 32  # frames held while their crops wait for a full HMR2 batch


@dataclass
class PeopleModels:
    detector: PersonDetector  # Mask R-CNN, or the user's boxes (KnownBoxesDetector)
    hmr2: HMR2
    smpl: SMPL
    device: torch.device
    batch_size: int  # crops per HMR2 forward (adapts downwards on OOM)
    frames_per_detection: int = 4  # frames per detector call


def smpl_model_file(weights: WeightFiles, settings: Settings) -> Path:
    """The SMPL body to use: the converted clean copy, else the user's file, else the original pickle."""
    if weights.smpl_neutral_clean.is_file():
        return weights.smpl_neutral_clean
    if settings.smpl_path is not None:
        return Path(settings.smpl_path)
    return weights.smpl_neutral


def load_people_models(weights: WeightFiles, settings: Settings) -> PeopleModels:
    """Detector, HMR2.0 and SMPL on the settings' device (loaded once; nothing downloads)."""

    device = resolve_device(settings.device)
    detector = load_person_detector(weights.detector_checkpoint, weights.detector_config, settings, device)
    hmr2 = load_hmr2(weights.hmr2_checkpoint, weights.hmr2_config, device)
    smpl = load_smpl(smpl_model_file(weights, settings), weights.smpl_to_j19, device)
    on_gpu = device.type == "cuda"
    return PeopleModels(
        detector=detector,
        hmr2=hmr2,
        smpl=smpl,
        device=device,
        batch_size=initial_batch_size(device),
        frames_per_detection=8 if on_gpu else 4,
    )


def initial_batch_size(device: torch.device) -> int:
    """Crops per HMR2 forward: what half of the free memory (GPU, or host RAM on CPU) holds, capped."""
    cap = CUDA_MAX_BATCH if device.type == "cuda" else CPU_BATCH
    return batch_from_memory(available_bytes(device), BYTES_PER_CROP, cap)


# ----------------------------------------------------------------------------------------------
# HMR2 over many crops


def _hmr2_batch(models: PeopleModels, crops: np.ndarray, precision: PrecisionPolicy) -> dict[str, np.ndarray]:
    with torch.no_grad(), precision.autocast("hmr2"):
        img = torch.from_numpy(crops[:, :3]).to(models.device, non_blocking=True)
        out = models.hmr2(img)
    keys = ("global_orient", "body_pose", "betas", "pred_cam")
    return {k: out[k].float().cpu().numpy() for k in keys}


def run_hmr2(
    models: PeopleModels, crops: np.ndarray, precision: PrecisionPolicy | None = None
) -> dict[str, np.ndarray]:
    """HMR2 on (N, 4, 256, 256) crops in batches of `models.batch_size` (halved, for good, on out-of-memory)."""
    policy = precision or fp32_policy(models.device)
    batches = AdaptiveBatches(models.batch_size, "HMR2", models.device)
    parts = []
    for _crops, part in batches.run(crops, lambda chunk: _hmr2_batch(models, chunk, policy)):
        parts.append(part)
        models.batch_size = batches.size
    models.batch_size = batches.size
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ----------------------------------------------------------------------------------------------
# the stage


@dataclass
class _PendingFrame:
    index: int
    image_hw: tuple[int, int]
    detections: Detections
    crops: np.ndarray  # (N, 4, 256, 256)


def _observations(
    models: PeopleModels, frame: _PendingFrame, hmr: dict[str, np.ndarray], keep_crops: bool
) -> FramePeople:

    people: list[PersonObservation] = []
    n = len(frame.detections)
    if n:
        centers, scales = zip(*(box_center_scale(b) for b in frame.detections.boxes), strict=True)
        center, scale = np.stack(centers), np.stack(scales)
        params = person_3d_parameters(
            models.smpl,
            hmr["global_orient"],
            hmr["body_pose"],
            hmr["betas"],
            hmr["pred_cam"],
            center,
            scale,
            frame.image_hw,
        )
        for i in range(n):
            people.append(
                PersonObservation(
                    frame_index=frame.index,
                    bbox_xyxy=frame.detections.boxes[i].astype(np.float32),
                    score=float(frame.detections.scores[i]),
                    center=center[i].astype(np.float32),
                    scale=scale[i].astype(np.float32),
                    global_orient=params["global_orient"][i],
                    body_pose=params["body_pose"][i],
                    betas=params["betas"][i],
                    pred_cam=params["pred_cam"][i],
                    cam_t=params["cam_t"][i],
                    joints_3d=params["joints_3d"][i],
                    joints_2d=params["joints_2d"][i].reshape(-1) / 256.0,
                    pose_vec=params["pose_vec"][i],
                    loca=params["loca"][i],
                    mask=frame.detections.masks[i] if keep_crops else None,
                    crop=frame.crops[i] if keep_crops else None,
                )
            )
    return FramePeople(frame_index=frame.index, image_size=frame.image_hw, people=people)


def _flush(
    models: PeopleModels, pending: list[_PendingFrame], keep_crops: bool, precision: PrecisionPolicy
) -> Iterator[FramePeople]:
    crops = [f.crops for f in pending if len(f.crops)]
    hmr = run_hmr2(models, np.concatenate(crops), precision) if crops else {}
    start = 0
    for frame in pending:
        n = len(frame.crops)
        part = {k: v[start : start + n] for k, v in hmr.items()}
        start += n
        yield _observations(models, frame, part, keep_crops)


def _frame_source(frames: Iterable[tuple[int, np.ndarray]] | str | os.PathLike, settings: Settings):
    """Frames as given, or decoded from a video path (the video engineer's clip reader)."""
    if isinstance(frames, (str, os.PathLike)):
        clip = open_clip(frames, settings)
        return iter_frames(clip), clip.n_frames
    total = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
    return iter(frames), total


def _chunks(frames: Iterator[tuple[int, np.ndarray]], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    chunk: list[tuple[int, np.ndarray]] = []
    for item in frames:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def find_people(
    frames: Iterable[tuple[int, np.ndarray]] | str | os.PathLike,
    models: PeopleModels,
    settings: Settings,
    progress: ProgressFn = no_progress,
    keep_crops: bool = False,
    total: int | None = None,
) -> Iterator[FramePeople]:
    """Every person in every frame, in 3D. `frames`: (index, RGB uint8 frame) pairs, or a video path.

    With `keep_crops` each person keeps its 4-channel crop and mask (the tracker's HMAR needs them).
    """

    source, known_total = _frame_source(frames, settings)
    precision = precision_policy(settings.precision, models.device)
    total = total if total is not None else known_total
    pending: list[_PendingFrame] = []
    done = 0
    progress(STAGE_NAME, 0, total)
    for chunk in _chunks(source, max(1, models.frames_per_detection)):
        images: Sequence[np.ndarray] = [frame for _, frame in chunk]
        indices = [index for index, _ in chunk]
        for index, image in chunk:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise InputError(f"Frame {index} is not an RGB uint8 image (got {image.dtype} {image.shape}).")
        with torch.no_grad(), precision.autocast("detector"):
            found = models.detector.detect(images, indices)
        for index, image, dets in zip(indices, images, found, strict=True):
            dets = filter_small(dets, settings.min_box_w, settings.min_box_h)
            crops = person_crops(image, dets.boxes, dets.masks)
            pending.append(_PendingFrame(index, (int(image.shape[0]), int(image.shape[1])), dets, crops))
        if sum(len(f.crops) for f in pending) >= models.batch_size or len(pending) >= MAX_PENDING_FRAMES:
            for frame_people in _flush(models, pending, keep_crops, precision):
                done += 1
                yield frame_people
            progress(STAGE_NAME, done, total)
            pending = []
    for frame_people in _flush(models, pending, keep_crops, precision):
        done += 1
        yield frame_people
    progress(STAGE_NAME, done, total)


# ----------------------------------------------------------------------------------------------
# CLI writer


def person_record(person: PersonObservation) -> dict[str, Any]:
    """One person as PHALP-style fields (numpy arrays)."""
    return {
        "bbox": person.bbox_xyxy,
        "conf": person.score,
        "center": person.center,
        "scale": person.scale,
        "smpl": {"global_orient": person.global_orient, "body_pose": person.body_pose, "betas": person.betas},
        "pred_cam": person.pred_cam,
        "camera": person.cam_t,
        "3d_joints": person.joints_3d,
        "2d_joints": person.joints_2d,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.round(value.astype(np.float64), 6).tolist()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    return value


def run_people(video_path: str | Path, out_dir: str | Path, settings: Settings) -> Path:
    """Detector + HMR2.0 over a video; writes people.pkl and people.json in out_dir; returns the pkl path."""

    weights = WeightFiles(Path(settings.weights_dir))
    clip = open_clip(video_path, settings)
    models = load_people_models(weights, settings)
    frames = []
    for fp in find_people(iter_frames(clip), models, settings, total=clip.n_frames):
        frames.append(
            {
                "frame_index": fp.frame_index,
                "time_s": clip.frame_time(fp.frame_index),
                "size": list(fp.image_size),
                "people": [person_record(p) for p in fp.people],
            }
        )
    result = {
        "clip": clip.to_dict(),
        "random_weights": weights.is_random(),
        "device": str(models.device),
        "frames": frames,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pkl = out / "people.pkl"
    with pkl.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    (out / "people.json").write_text(json.dumps(_jsonable(result)))
    return pkl
