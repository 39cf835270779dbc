"""Per-track MViT appearance features, as LART's `add_slowfast_features` computes them, from one decode pass.

LART cuts every track into chunks of 6 track frames; for each chunk it takes the clip of
`NUM_FRAMES x SAMPLING_RATE + 1` track frames centred on the chunk's middle frame (indices clamped to the
track), crops the frame to an aspect ratio in [0.8, 1.2], resizes the short side to `TEST_CROP_SIZE`,
normalises, keeps `NUM_FRAMES` frames by `linspace`, and runs the MViT with the middle frame's box. Every
frame of the chunk gets that clip's feature (../shared/reference/mvit_spec.md §1, lart_spec.md §5).

Here the frames arrive once, in order, from the streaming decoder. Only the `NUM_FRAMES` frames a clip
really uses are kept, already cropped and resized (the crop depends only on the frame size, so one
preprocessed frame serves every track), and only while a pending clip still needs them.

Clips with the same frame list are the same backbone input (tracks starting on the same frame mod 6 get
identical clips; only the RoI box differs), so the backbone runs once per distinct clip and the RoI head
once per track box. Distinct clips are batched by free memory (halved on out-of-memory); progress (and
so cancel) is reported after every clip and, on CPU where one clip takes minutes, inside the backbone pass
after every block and attention chunk (at most ~3 s apart with the released model on 2 cores).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from lart_demo.batching import AdaptiveBatches, available_bytes, batch_from_memory
from lart_demo.contracts import Track
from lart_demo.errors import InputError, VideoError
from lart_demo.models.mvit import ATTN_CHUNK_BYTES, MViT, MViTConfig
from lart_demo.precision import PrecisionPolicy, fp32_policy
from lart_demo.progress import ProgressFn, no_progress

NUM_STEPS = 6  # track frames per chunk ("5 Hz" at 30 fps; upstream does not adapt it to the fps)
ASPECT_MAX = 1.2  # wider frames are cropped to w = 1.2 h
ASPECT_MIN = 0.8  # taller frames are cropped to h = w / 0.8
CHUNK_INDEX_SCALE = 1000  # apperance_index = chunk index * 1000, as LART stores it


@dataclass(frozen=True)
class TrackBoxes:
    """What the appearance stage needs of a track: per track frame, its video frame and PHALP box."""

    fid: np.ndarray  # (n,) int: video frame index of each track frame
    frame_bbox: np.ndarray  # (n, 4) float: PHALP box [x, y, w, h] in original-frame pixels


def as_track_boxes(track: TrackBoxes | Track) -> TrackBoxes:
    """What the stage reads of a `Track` (a `TrackBoxes` passes through)."""
    if isinstance(track, TrackBoxes):
        fid, bbox = track.fid, track.frame_bbox
    else:
        fid, bbox = track.frame_index, track.boxes_tlwh
    fid_arr = np.asarray(fid).reshape(-1).astype(np.int64)
    bbox_arr = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    if len(fid_arr) != len(bbox_arr):
        raise InputError(f"Track has {len(fid_arr)} frame ids but {len(bbox_arr)} boxes.")
    return TrackBoxes(fid=fid_arr, frame_bbox=bbox_arr)


@dataclass
class TrackAppearance:
    """MViT outputs for every frame of one track (each frame carries its chunk's clip), in LART's shapes."""

    embedding: np.ndarray  # (n, 1, D) float32 pooled features: LART's appearance input
    action_logits: np.ndarray  # (n, 1, num_classes) float32 MViT's own AVA head
    chunk_index: np.ndarray  # (n, 1, 1) int64 chunk number * 1000, as LART stores it


def with_appearance(tracks: Mapping[int, Track], features: Mapping[int, TrackAppearance]) -> dict[int, Track]:
    """The tracks with their `appearance` filled in ((T, D) float32), same ids and order."""
    return {
        tid: replace(track, appearance=features[tid].embedding.reshape(len(track), -1)) if tid in features else track
        for tid, track in tracks.items()
    }


# --------------------------------------------------------------------------------------- clip sampling


@dataclass(frozen=True)
class ChunkPlan:
    """One MViT clip of a track: which track frames it covers, reads and which box it pools."""

    index: int  # chunk number t (apperance_index = t * 1000)
    start: int  # chunk covers track frames [start, end)
    end: int
    mid: int
    window: np.ndarray  # (L+1,) track indices given to upstream's SlowFastWrapper (clamped to the track)
    sampled: np.ndarray  # (NUM_FRAMES,) track indices that survive the temporal linspace
    box_xyxy: np.ndarray  # (4,) int64: int-truncated [x, y, w, h] of the mid frame -> [x1, y1, x1+w, y1+h]


def window_offsets(seq_length: int) -> range:
    """Offsets around the mid frame: upstream's `range(-L//2, L//2 + 1)` (Python floor division)."""
    return range((-seq_length) // 2, seq_length // 2 + 1)


def temporal_index(window_length: int, num_frames: int) -> np.ndarray:
    """Positions kept by `process_cv2_inputs`: `torch.linspace(0, n-1, NUM_FRAMES).long()` (float32, truncated)."""
    return torch.linspace(0, window_length - 1, num_frames).long().numpy()


def plan_track_chunks(frame_bbox: np.ndarray, cfg: MViTConfig, num_steps: int = NUM_STEPS) -> list[ChunkPlan]:
    """LART's chunking of one track of `len(frame_bbox)` frames into MViT clips."""
    n = len(frame_bbox)
    offsets = np.asarray(window_offsets(cfg.seq_length), dtype=np.int64)
    keep = temporal_index(len(offsets), cfg.num_frames)
    plans = []
    for t in range(n // num_steps + 1):
        start, end = t * num_steps, min((t + 1) * num_steps, n)
        if end <= start:
            continue
        mid = (start + end) // 2
        window = np.clip(mid + offsets, 0, n - 1)
        tlwh = np.nan_to_num(np.asarray(frame_bbox[mid], dtype=np.float64)).astype(np.int32).astype(np.int64)
        box = np.array([tlwh[0], tlwh[1], tlwh[0] + tlwh[2], tlwh[1] + tlwh[3]], dtype=np.int64)
        plans.append(ChunkPlan(t, start, end, mid, window, window[keep], box))
    return plans


# ------------------------------------------------------------------------------------- frame geometry


def aspect_crop(height: int, width: int) -> tuple[int, int, int, int]:
    """Centred crop [x0, y0, x1, y1) bringing w/h into [0.8, 1.2], exactly as LART's SlowFastWrapper.

    Upstream slices `img[:, l:-l]`; for l == 0 that slice would be empty (a crash there), here it is no crop.
    """
    ratio = width / height
    if ratio > ASPECT_MAX and width > height:
        left = int((width - height * ASPECT_MAX) // 2)
        return (left, 0, width - left, height)
    if ratio < ASPECT_MIN and width < height:
        top = int((height - width / ASPECT_MIN) // 2)
        return (0, top, width, height - top)
    return (0, 0, width, height)


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(new_h, new_w) of PySlowFast's `cv2_transform.scale`: the short side becomes `size`, floor on the other."""
    if (width <= height and width == size) or (height <= width and height == size):
        return height, width
    if width < height:
        return int(math.floor(height / width * size)), size
    return size, int(math.floor(width / height * size))


def preprocess_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Aspect crop + short-side resize of one uint8 frame (cv2 INTER_LINEAR on uint8, as upstream)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = aspect_crop(h, w)
    crop = frame[y0:y1, x0:x1]
    new_h, new_w = short_side_size(y1 - y0, x1 - x0, size)
    if (new_h, new_w) == crop.shape[:2]:
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def cropped_box(box_xyxy: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """The int box shifted into the aspect crop (not clipped: it may start left of / above the crop)."""
    x0, y0, _, _ = aspect_crop(*frame_hw)
    return (np.asarray(box_xyxy, dtype=np.int64) - np.array([x0, y0, x0, y0])).astype(np.float32)


def model_box(box_xyxy: np.ndarray, frame_hw: tuple[int, int], size: int) -> np.ndarray:
    """Box in clip pixels: shifted into the crop, then scaled like `cv2_transform.scale_boxes` (float32)."""
    x0, y0, x1, y1 = aspect_crop(*frame_hw)
    h, w = y1 - y0, x1 - x0
    box = torch.from_numpy(cropped_box(box_xyxy, frame_hw))
    new_h, new_w = short_side_size(h, w, size)
    if (new_h, new_w) != (h, w):
        box *= float(new_h) / h if w < h else float(new_w) / w
    return box.numpy()


def model_input_size(frame_hw: tuple[int, int], crop_size: int) -> tuple[int, int]:
    """(h, w) of the clip frames the MViT sees for video frames of `frame_hw`."""
    x0, y0, x1, y1 = aspect_crop(*frame_hw)
    return short_side_size(y1 - y0, x1 - x0, crop_size)


def count_clips(
    tracks: Mapping[int, TrackBoxes | Track], cfg: MViTConfig, num_steps: int = NUM_STEPS
) -> tuple[int, int]:
    """(clips, distinct clips) the tracks need: distinct clips are the backbone passes."""
    frame_lists = []
    for raw in tracks.values():
        track = as_track_boxes(raw)
        for plan in plan_track_chunks(track.frame_bbox, cfg, num_steps):
            frame_lists.append(tuple(int(track.fid[i]) for i in plan.sampled))
    return len(frame_lists), len(set(frame_lists))


def normalize_clips(frames: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float32 (B, 3, T, H, W): x/255, minus mean, over std (upstream's order)."""
    x = frames.float() / 255
    x = x - torch.tensor(mean, dtype=torch.float32, device=x.device)
    x = x / torch.tensor(std, dtype=torch.float32, device=x.device)
    return x.permute(0, 4, 1, 2, 3).contiguous()


def to_model_channels(frame_rgb: np.ndarray, cfg: MViTConfig) -> np.ndarray:
    """Upstream reads BGR and converts to RGB when DEMO.INPUT_FORMAT is "BGR" (the default); else it feeds BGR."""
    return frame_rgb if cfg.input_format == "BGR" else np.ascontiguousarray(frame_rgb[..., ::-1])


# ----------------------------------------------------------------------------------- streaming stage


# Distinct clips per backbone forward at most. On CPU one clip already keeps every core busy for minutes, so
# batching gains nothing and only multiplies the peak memory (and delays progress/cancel).
MAX_CLIPS_PER_BATCH = {"cuda": 8, "cpu": 1}


@dataclass
class AppearanceConfig:
    """How the appearance stage runs (not what it computes)."""

    batch_size: int | None = None  # distinct clips per backbone forward; None = from free memory
    num_steps: int = NUM_STEPS
    precision: PrecisionPolicy | None = None  # None = float32 like upstream


def clip_bytes(cfg: MViTConfig, clip_hw: tuple[int, int], dtype_bytes: int = 4) -> int:
    """Upper bound on the memory one clip needs in a backbone forward (chunked attention).

    The largest live set is in the first stage: the block input and output, the fused qkv, the 4x MLP hidden
    layer and the pooled copies, about 14 token-sized tensors, plus two attention chunks. Measured on CPU for
    the released model at 312x374: ~1.1 GB over the weights; this bound says ~1.4 GB.
    """
    t = cfg.num_frames // cfg.patch_stride[0]
    h, w = (math.ceil(s / cfg.patch_stride[1]) for s in clip_hw)
    tokens = t * h * w + 1
    return int(tokens * cfg.embed_dim * dtype_bytes * 14 + 2 * ATTN_CHUNK_BYTES)


@dataclass
class _ClipJob:
    track_id: int
    plan: ChunkPlan
    frame_ids: tuple[int, ...]  # video frame of each of the NUM_FRAMES clip frames

    @property
    def first_frame(self) -> int:
        return min(self.frame_ids)

    @property
    def last_frame(self) -> int:
        return max(self.frame_ids)


class AppearanceExtractor:
    """Push frames in increasing index order, then `finish()`; clips run as soon as their frames are in.

    At most `window_span` preprocessed frames are held at any time (the clip window in video frames, i.e.
    NUM_FRAMES x SAMPLING_RATE + 1 for tracks without frame gaps); `peak_buffered` records the maximum.
    """

    def __init__(
        self,
        tracks: Mapping[int, TrackBoxes | Track],
        model: MViT,
        cfg: AppearanceConfig | None = None,
        progress: ProgressFn | None = None,
    ):
        self.model = model
        self.mvit_cfg = model.config
        self.cfg = cfg or AppearanceConfig()
        if self.cfg.batch_size is not None and self.cfg.batch_size < 1:
            raise InputError("AppearanceConfig.batch_size must be at least 1.")
        self.progress = progress or no_progress
        self.device = next(model.parameters()).device
        self.precision = self.cfg.precision or fp32_policy(self.device)
        self._batches: AdaptiveBatches | None = None  # sized once the frame size is known
        self.backbone_passes = 0
        self.results: dict[int, TrackAppearance] = {}
        self._jobs_by_last: dict[int, list[_ClipJob]] = {}
        self._refcount: dict[int, int] = {}
        self._buffer: dict[int, np.ndarray] = {}
        self._frame_hw: tuple[int, int] | None = None
        self._queue: list[_ClipJob] = []
        self.total_clips = 0
        self.done_clips = 0
        self.window_span = 1
        self.peak_buffered = 0
        self._last_index = -1
        for track_id, raw in tracks.items():
            track = as_track_boxes(raw)
            n = len(track.fid)
            self.results[track_id] = TrackAppearance(
                embedding=np.zeros((n, 1, model.feature_dim), dtype=np.float32),
                action_logits=np.zeros((n, 1, self.mvit_cfg.num_classes), dtype=np.float32),
                chunk_index=np.zeros((n, 1, 1), dtype=np.int64),
            )
            for plan in plan_track_chunks(track.frame_bbox, self.mvit_cfg, self.cfg.num_steps):
                job = _ClipJob(track_id, plan, tuple(int(track.fid[i]) for i in plan.sampled))
                self._jobs_by_last.setdefault(job.last_frame, []).append(job)
                for fid in set(job.frame_ids):
                    self._refcount[fid] = self._refcount.get(fid, 0) + 1
                self.window_span = max(self.window_span, job.last_frame - job.first_frame + 1)
                self.total_clips += 1
        self.progress("appearance", 0, self.total_clips)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def push(self, index: int, frame_rgb: np.ndarray) -> None:
        """Offer one decoded RGB uint8 frame; frames no clip needs are ignored without any work."""
        if index <= self._last_index:
            raise VideoError(f"Frames must arrive in increasing order (got {index} after {self._last_index}).")
        self._last_index = index
        if index not in self._refcount:
            return
        # Run queued clips whose oldest frame would otherwise be held longer than one clip window.
        if any(job.first_frame < index - self.window_span + 1 for job in self._queue):
            self._run_queue()
        hw = (int(frame_rgb.shape[0]), int(frame_rgb.shape[1]))
        if self._frame_hw is None:
            self._frame_hw = hw
        elif hw != self._frame_hw:
            raise VideoError(
                f"Frame {index} is {hw[1]}x{hw[0]} but earlier frames were {self._frame_hw[1]}x"
                f"{self._frame_hw[0]}; a clip must have one frame size."
            )
        self._buffer[index] = preprocess_frame(to_model_channels(frame_rgb, self.mvit_cfg), self.mvit_cfg.crop_size)
        self.peak_buffered = max(self.peak_buffered, len(self._buffer))
        self._queue.extend(self._jobs_by_last.pop(index, []))
        if len({job.frame_ids for job in self._queue}) >= self._batch_runner().size:
            self._run_queue()

    @property
    def all_frames_seen(self) -> bool:
        """True once every clip has its frames (later frames are not needed; `finish()` runs the rest)."""
        return not self._jobs_by_last

    def finish(self) -> dict[int, TrackAppearance]:
        """Run what is queued and return every track's features."""
        self._run_queue()
        if self._jobs_by_last:
            missing = sorted(self._jobs_by_last)[:5]
            raise VideoError(
                f"The video ended before frame(s) {missing} that tracks refer to; the tracks do not belong "
                "to this video or it was cut short. Re-run the analysis on the full clip."
            )
        return self.results

    def _batch_runner(self) -> AdaptiveBatches:
        if self._batches is None:
            assert self._frame_hw is not None
            size = self.cfg.batch_size
            if size is None:
                hw = model_input_size(self._frame_hw, self.mvit_cfg.crop_size)
                per_clip = clip_bytes(self.mvit_cfg, hw, self.precision.stage_dtype("mvit").itemsize)
                cap = MAX_CLIPS_PER_BATCH.get(self.device.type, 1)
                size = batch_from_memory(available_bytes(self.device), per_clip, cap)
            self._batches = AdaptiveBatches(size, "MViT", self.device)
        return self._batches

    def _run_queue(self) -> None:
        """Run every queued clip: one backbone pass per distinct frame list, the RoI head per track box."""
        groups: dict[tuple[int, ...], list[_ClipJob]] = {}
        for job in self._queue:
            groups.setdefault(job.frame_ids, []).append(job)
        self._queue = []
        if not groups:
            return
        runner = self._batch_runner()
        for keys, (preds, feats) in runner.run(list(groups), lambda keys: self._forward(keys, groups)):
            row = 0
            for key in keys:
                for job in groups[key]:
                    self._store(job, preds[row], feats[row])
                    row += 1
                self._release(key, len(groups[key]))
            self.done_clips += sum(len(groups[key]) for key in keys)
            self.progress("appearance", self.done_clips, self.total_clips)

    def _forward(
        self, keys: list[tuple[int, ...]], groups: dict[tuple[int, ...], list[_ClipJob]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Backbone on the distinct clips `keys`, RoI head on every job's box; rows in (key, job) order."""
        assert self._frame_hw is not None
        clips = np.stack([np.stack([self._buffer[f] for f in key]) for key in keys])
        boxes = np.stack(
            [
                np.concatenate([[float(b)], model_box(job.plan.box_xyxy, self._frame_hw, self.mvit_cfg.crop_size)])
                for b, key in enumerate(keys)
                for job in groups[key]
            ]
        ).astype(np.float32)
        clip_t = normalize_clips(torch.from_numpy(clips).to(self.device), self.mvit_cfg.mean, self.mvit_cfg.std)
        boxes_t = torch.from_numpy(boxes).to(self.device)
        # On CPU one backbone pass takes minutes: report inside it so that a cancel lands within seconds.
        on_step = self._inside_pass if self.device.type == "cpu" else None
        with torch.no_grad(), self.precision.autocast("mvit"):
            fmap = self.model.forward_features(clip_t, on_step=on_step)
            preds, feats = self.model.head(fmap, boxes_t)
        self.backbone_passes += len(keys)
        return preds.float().cpu().numpy(), feats.float().cpu().numpy()

    def _inside_pass(self) -> None:
        self.progress("appearance", self.done_clips, self.total_clips)

    def _store(self, job: _ClipJob, preds: np.ndarray, feats: np.ndarray) -> None:
        result = self.results[job.track_id]
        span = slice(job.plan.start, job.plan.end)
        result.embedding[span, 0] = feats
        result.action_logits[span, 0] = preds
        result.chunk_index[span, 0, 0] = job.plan.index * CHUNK_INDEX_SCALE

    def _release(self, key: tuple[int, ...], n_jobs: int) -> None:
        """Drop buffered frames that no pending clip needs any more (each of the `n_jobs` jobs held a reference)."""
        for fid in set(key):
            self._refcount[fid] -= n_jobs
            if self._refcount[fid] == 0:
                del self._refcount[fid]
                self._buffer.pop(fid, None)


def compute_appearance(
    frames: Iterable[tuple[int, np.ndarray]],
    tracks: Mapping[int, TrackBoxes | Track],
    model: MViT,
    cfg: AppearanceConfig | None = None,
    progress: ProgressFn | None = None,
    counts: dict[str, int] | None = None,
) -> dict[int, TrackAppearance]:
    """MViT features of every track from ONE pass over `(frame_index, RGB uint8 frame)` pairs.

    `tracks` maps track id -> `Track` (or just its `TrackBoxes`). Returns every track's `TrackAppearance`,
    in the track's frame order. Stops reading frames once every clip has run. `counts`, when given,
    receives `mvit_clips` and `mvit_backbone_passes`.
    """
    extractor = AppearanceExtractor(tracks, model, cfg, progress)
    for index, frame in frames:
        if extractor.all_frames_seen:
            break
        extractor.push(int(index), frame)
    result = extractor.finish()
    if counts is not None:
        counts["mvit_clips"] = extractor.total_clips
        counts["mvit_backbone_passes"] = extractor.backbone_passes
    return result
