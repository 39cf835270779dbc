"""Per-frame AVA action probabilities for every track, from LART over the track's "fast track" arrays.

What the LART demo computes (lart_spec.md sections 4 and 7), with one deliberate change: the reference
runs one encoder call per window and per track; here the windows of all tracks go through the encoder
as one batch (optionally in chunks of `batch_windows`). Every window is independent, so the results
are the same (tests/stages/test_actions.py checks it).

Windows (`step` = `window` = 32 in the demo): for w = 0, 32, 64, ...: the track frames
[max(w-32, 0), min(w+64, T)) fill slots 0.. of a `frame_length` buffer (the rest is masked padding),
and frames [w, w+32) keep the tokens of slots w-start..; the AVA head, the SMPL head and the location
head then run on the stitched tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lart_demo.config import Settings
from lart_demo.contracts import ActionResult, Track
from lart_demo.device import resolve_device
from lart_demo.errors import InputError, ModelError
from lart_demo.labels import ActionLabels, load_action_labels
from lart_demo.models.lart import LART, load_lart
from lart_demo.models.pose_normalisation import (
    POSE_DIM,
    PoseNormalisation,
    normalisation_from_mean_std,
    read_mean_std,
)
from lart_demo.weights.files import WeightFiles

STEP = 32  # frames whose tokens each window keeps (the demo's `step`)
WINDOW = 32  # context frames before (and, beyond the step, after) the kept ones (the demo's `window`)
STD_EPS = 1e-10  # added to std, as the reference does
TOP_K = 3  # labels the demo draws per person


# --- normalisation ---------------------------------------------------------------------------------


# --- windows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSpan:
    """One encoder window over a track."""

    step_start: int  # w: first frame whose token this window provides
    start: int  # first track frame in the window (slot 0)
    end: int  # end (exclusive) of the track frames in the window
    kept: int  # frames [w, w + kept) take their tokens from this window

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def kept_slot(self) -> int:
        """Slot of frame w inside the window."""
        return self.step_start - self.start


def plan_windows(track_length: int, step: int = STEP, window: int = WINDOW) -> list[WindowSpan]:
    """The reference's moving windows over a track of `track_length` frames."""
    spans = []
    for w in range(0, track_length, step):
        start = max(w - window, 0)
        end = min(w + step + window, track_length)
        spans.append(WindowSpan(step_start=w, start=start, end=end, kept=min(step, track_length - w)))
    return spans


# --- per-track inputs -------------------------------------------------------------------------------


@dataclass
class TrackFeatures:
    """One track's per-frame encoder inputs (before windowing)."""

    pose_shape: np.ndarray  # (T, 229) float32, normalised
    joints_3d: np.ndarray  # (T, 135) float32: joints + camera (tx, ty, tz/200), joint-major xyz
    appearance: np.ndarray | None  # (T, D) float32
    has_detection: np.ndarray  # (T,) bool
    frame_index: np.ndarray  # (T,) int64

    @property
    def length(self) -> int:
        return int(self.has_detection.shape[0])


def track_features(track: Track, norm: PoseNormalisation, uses_appearance: bool) -> TrackFeatures:
    """A tracked identity -> LART inputs (normalised pose, joints moved by the camera, appearance)."""
    length = len(track)
    if length == 0:
        raise InputError("A track has no frames.")
    if uses_appearance and track.appearance is None:
        raise InputError(f"Track {track.track_id} has no appearance features; run the appearance stage first.")
    pose = np.asarray(track.pose_shape, dtype=np.float64).reshape(length, POSE_DIM).astype(np.float32)
    # float32 arithmetic like the reference's torch buffers
    pose = (pose - norm.mean) / (norm.std + np.float32(STD_EPS))
    # the reference adds the camera in float64 (numpy) and casts afterwards
    joints = np.asarray(track.joints_3d, dtype=np.float64).reshape(length, -1, 3)
    camera = np.asarray(track.camera, dtype=np.float64).reshape(length, 1, 3)
    joints = (joints + camera).reshape(length, -1).astype(np.float32)
    appearance = None
    if uses_appearance:
        appearance = np.asarray(track.appearance, dtype=np.float32).reshape(length, -1)
    has_detection = np.asarray(track.has_detection).reshape(length).astype(bool)
    frame_index = np.asarray(track.frame_index).reshape(length).astype(np.int64)
    return TrackFeatures(pose, joints, appearance, has_detection, frame_index)


def window_masks(has_detection: np.ndarray, spans: Sequence[WindowSpan], frame_length: int) -> np.ndarray:
    """(W, frame_length) bool: True = token masked (frame without detection, or padding after the window)."""
    masks = np.ones((len(spans), frame_length), dtype=bool)
    for i, span in enumerate(spans):
        masks[i, : span.length] = ~has_detection[span.start : span.end]
    return masks


@dataclass
class _WindowBatch:
    pose_shape: torch.Tensor  # (W, F, 229)
    joints_3d: torch.Tensor | None  # (W, F, 135)
    appearance: torch.Tensor | None  # (W, F, D)
    masked: torch.Tensor  # (W, F) bool


def _assemble(
    items: Sequence[tuple[TrackFeatures, WindowSpan]], frame_length: int, model: LART, device: torch.device
) -> _WindowBatch:
    cfg = model.config
    n = len(items)
    pose = np.zeros((n, frame_length, POSE_DIM), np.float32)
    joints = np.zeros((n, frame_length, cfg.joints_3d.dim), np.float32) if cfg.uses_joints else None
    app = np.zeros((n, frame_length, cfg.appearance.dim), np.float32) if cfg.uses_appearance else None
    masked = np.ones((n, frame_length), bool)
    for i, (feat, span) in enumerate(items):
        sl, k = slice(span.start, span.end), span.length
        pose[i, :k] = feat.pose_shape[sl]
        masked[i] = window_masks(feat.has_detection, [span], frame_length)[0]
        if joints is not None:
            joints[i, :k] = feat.joints_3d[sl]
        if app is not None and feat.appearance is not None:
            app[i, :k] = feat.appearance[sl]

    def to(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.from_numpy(a).to(device)

    return _WindowBatch(to(pose), to(joints), to(app), torch.from_numpy(masked).to(device))  # type: ignore[arg-type]


# --- outputs ------------------------------------------------------------------------------------------


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def encode_windows(
    model: LART,
    items: Sequence[tuple[TrackFeatures, WindowSpan]],
    batch_windows: int | None = None,
) -> list[torch.Tensor]:
    """Encoder tokens `(frame_length, in_feat)` for each (track, window), in batches of `batch_windows`."""
    frame_length = model.config.frame_length
    device = _device_of(model)
    size = max(1, len(items) if batch_windows is None else int(batch_windows))
    outputs: list[torch.Tensor] = []
    for begin in range(0, len(items), size):
        batch = _assemble(items[begin : begin + size], frame_length, model, device)
        tokens = model.encode(batch.pose_shape, batch.masked, batch.joints_3d, batch.appearance)
        outputs.extend(tokens.float().unbind(0))
    return outputs


@torch.inference_mode()
def predict_actions(
    tracks: Mapping[int, Track],
    model: LART,
    mean_std: object,
    batch_windows: int | None = None,
    labels: ActionLabels | None = None,
    step: int = STEP,
    window: int = WINDOW,
) -> dict[int, ActionResult]:
    """AVA probabilities, top-3 labels and LART's in-fill bodies for every frame of every track.

    tracks: track id -> `Track` (pose_shape, joints_3d, camera with tz/200, has_detection, frame_index, and
    appearance when the model uses it).
    mean_std: content of mean_std.npy (or a `PoseNormalisation`). batch_windows: the most windows per encoder
    call (None: all windows of all tracks in one call).
    """
    cfg = model.config
    if 2 * window + step >= cfg.frame_length:
        raise ModelError(
            f"LART frame_length={cfg.frame_length} cannot hold a window of {window}+{step}+{window} frames."
        )
    labels = labels or ActionLabels()
    if cfg.ava_classes != labels.num_classes:
        raise ModelError(
            f"LART predicts {cfg.ava_classes} AVA classes but the class mapping has {labels.num_classes}; "
            "check that lart_mvit.config and ava_class_mapping.pkl belong together."
        )
    norm = normalisation_from_mean_std(mean_std)
    features = {tid: track_features(t, norm, cfg.uses_appearance) for tid, t in tracks.items()}
    for tid, feat in features.items():
        if feat.appearance is not None and feat.appearance.shape[1] != cfg.appearance.dim:
            raise ModelError(
                f"Track {tid} has {feat.appearance.shape[1]}-d appearance features but LART expects "
                f"{cfg.appearance.dim} (extra_feat.apperance.dim); the MViT and LART weights do not belong together."
            )
    plans = {tid: plan_windows(feat.length, step, window) for tid, feat in features.items()}
    items = [(features[tid], span) for tid in features for span in plans[tid]]
    window_tokens = iter(encode_windows(model, items, batch_windows))

    stitched = []
    device = _device_of(model)
    for tid, feat in features.items():
        tokens = torch.zeros(feat.length, cfg.in_feat, device=device)
        for span in plans[tid]:
            out = next(window_tokens)
            tokens[span.step_start : span.step_start + span.kept] = out[span.kept_slot : span.kept_slot + span.kept]
        stitched.append(tokens)

    # the heads run per track, so a track's result never depends on which other tracks share the call
    results: dict[int, ActionResult] = {}
    for (tid, feat), tokens in zip(features.items(), stitched, strict=True):
        results[tid] = _read_out(model, feat, tokens, labels)
    return results


def _read_out(model: LART, feat: TrackFeatures, tokens: torch.Tensor, labels: ActionLabels) -> ActionResult:
    readout = model.readout(tokens)
    logits = readout.ava_logits.float().cpu()
    probs = torch.sigmoid(logits)
    top = labels.top_actions(probs, k=TOP_K)
    location = readout.location.float().cpu().numpy()
    return ActionResult(
        frame_index=feat.frame_index,
        has_detection=feat.has_detection,
        tokens=tokens.float().cpu().numpy(),
        logits=logits.numpy(),
        probs=probs.numpy(),
        top_index=top.index,
        top_ava_id=top.ava_id,
        top_prob=top.prob,
        top_labels=top.text,
        global_orient=readout.global_orient.float().cpu().numpy(),
        body_pose=readout.body_pose.float().cpu().numpy(),
        betas=readout.betas.float().cpu().numpy(),
        camera=location * np.array([1.0, 1.0, 200.0], np.float32),
        location=location,
        pose_camera=readout.pose_camera.float().cpu().numpy(),
    )


# --- loading -------------------------------------------------------------------------------------------


@dataclass
class ActionModels:
    """Everything `predict_actions` needs, loaded once."""

    lart: LART
    normalisation: PoseNormalisation
    labels: ActionLabels
    device: torch.device


def load_action_models(weights: WeightFiles, settings: Settings) -> ActionModels:
    """LART (lart_mvit.config + lart_mvit.ckpt), mean_std.npy and the AVA label mapping."""
    device = resolve_device(settings.device)
    lart = load_lart(weights.lart_checkpoint, weights.lart_config, device=device)
    return ActionModels(
        lart=lart,
        normalisation=read_mean_std(weights.mean_std),
        labels=load_action_labels(weights),
        device=device,
    )
