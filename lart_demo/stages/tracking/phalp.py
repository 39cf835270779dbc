"""PHALP v2 tracking as the LART demo runs it (phalp_spec.md sections 4.3-5.5).

One `Tracker` turns per-frame people (`PersonObservation`, with HMR2.0 pose/camera and the HMAR UV map)
into identities. Each frame: `predict()` ages every track, `update()` builds the EQ_019 cost of every
live track against every detection, solves the assignment, updates matched tracks (history, UV
fusion), ages out missed ones, starts tracks for the rest and predicts every track's next pose
(pose transformer), location (Ridge extrapolation) and appearance (fused UV map).

The upstream quirks that change numbers are replicated on purpose (spec section 10): float32
squared distances through ||a||^2 + ||b||^2 - 2ab, the pose predictor returning the first track's
slot for a whole batch (a flag of the pose predictor), the young-track `dup` divisor, the NaN->0 cost.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Protocol

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import t as student_t

from lart_demo.contracts import PersonObservation
from lart_demo.errors import InputError
from lart_demo.models.hmar import fuse_uv

POSE_DIM = 229  # [global_orient 9 | body_pose 207 | betas 10 | Tx, Ty, tz/200]
POSE_DIST_DIM = 226  # the pose distance ignores the 3 location entries (pose_distance 'smpl')
LOCA_DIM = 99  # [2d joints 45x2 | 3x3 tail]
ROOT_JOINT = 44  # the appended zero joint: its projection is the person's location


@dataclass(frozen=True)
class TrackerConfig:
    """Every value the tracker reads; defaults are PHALP's (brjathu/PHALP phalp/configs/base.py).

    `lart_demo()` gives the values the LART demo runs with (only the size filter differs).
    """

    predict: str = "TPL"  # T: UV-texture appearance, P: pose transformer, L: location Ridge ('A': 4096-d appe)
    pose_distance: str = "smpl"
    distance_type: str = "EQ_019"  # or "EQ_010" (the only one with a shot-change special case)
    alpha: float = 0.1  # UV fusion weight: alpha * conf^2
    low_th_c: float = 0.8  # detector score filter (strict >), applied by the detector stage
    hungarian_th: float = 100.0  # cost cap; an assigned pair costing more is rejected
    track_history: int = 7  # history deque length (Ridge / pose-transformer window)
    max_age_track: int = 50  # a confirmed track survives this many missed frames
    n_init: int = 5  # hits to confirm; also the prediction deques' length - 1
    encode_type: str = "4c"  # UV encoder input channels
    past_lookback: int = 1  # samples kept per track by the metric
    small_w: int = 50  # size filter (px), applied by the detector stage
    small_h: int = 100
    detect_shots: bool = False
    render_res: int = 256  # the "256-space" of the padded square
    focal_length: float = 5000.0
    # Location prediction (PHALP.forward_for_tracking 'L'): Ridge strengths and the gap clamp.
    ridge_alpha_depth: float = 5.0
    ridge_alpha_x: float = 1.2
    ridge_alpha_y: float = 2.0
    max_extrapolation_gap: int = 48
    # Skip the UV re-encoding of (track, detection) pairs whose other cost factors already exceed
    # hungarian_th: identical matches, far fewer encoder passes. Their cost is then the lower bound
    # (still > hungarian_th) and their A term NaN. False computes every pair (parity diagnostics).
    skip_decided_appearance: bool = True
    # Upstream returns the first track's target slot for every track of a pose-predictor batch
    # (spec 10.6). True reproduces the tracker bit for bit; False predicts each track at its own slot.
    first_track_slot_quirk: bool = True

    @classmethod
    def lart_demo(cls, **changes: Any) -> TrackerConfig:
        """The configuration brjathu/LART scripts/demo.py tracks with: boxes under 100x200 px are dropped."""
        return replace(cls(small_w=100, small_h=200), **changes)

    def __post_init__(self) -> None:
        if self.distance_type not in ("EQ_019", "EQ_010"):
            raise InputError(f"Unsupported PHALP distance_type {self.distance_type!r}: use 'EQ_019' or 'EQ_010'.")
        if self.pose_distance != "smpl":
            raise InputError(f"Unsupported PHALP pose_distance {self.pose_distance!r}: only 'smpl' is implemented.")
        if not 1 <= self.n_init <= self.track_history or self.track_history < 3 or self.max_age_track < 0:
            # a confirmation back-fills n_init - 1 earlier hits from the history, so it must hold them
            raise InputError(
                "Tracker config needs 1 <= n_init <= track_history, track_history >= 3 and max_age_track >= 0."
            )


class UVEncoder(Protocol):
    """HMAR's UV autoencoder, encoder half: (B, 4, 256, 256) -> (B, 4096) (lart_demo.models.hmar)."""

    def encode_uv(self, uv: torch.Tensor) -> torch.Tensor: ...


class PoseForecaster(Protocol):
    """PHALP's pose transformer v2 (lart_demo.models.pose_predictor)."""

    def predict_next(
        self,
        en_pose: torch.Tensor,
        en_time: torch.Tensor,
        time_to_predict: torch.Tensor,
        first_track_slot_quirk: bool = True,
    ) -> torch.Tensor: ...


class TrackState(IntEnum):
    TENTATIVE = 1
    CONFIRMED = 2
    DELETED = 3


@dataclass
class HistoryEntry:
    """What a track remembers of one matched detection."""

    time: int
    loca: np.ndarray  # (99,) float32; replaced on a shot change
    pose: np.ndarray  # (229,) float32
    conf: float
    observation: PersonObservation


@dataclass
class Track:
    track_id: int
    history: deque[HistoryEntry]
    predicted_appe: deque[np.ndarray | None]
    predicted_loca: deque[np.ndarray]
    predicted_pose: deque[np.ndarray]
    predicted_uv: deque[np.ndarray]
    hits: int = 1
    age: int = 1
    time_since_update: int = 0
    state: TrackState = TrackState.TENTATIVE

    @property
    def last(self) -> HistoryEntry:
        return self.history[-1]

    def is_confirmed(self) -> bool:
        return self.state == TrackState.CONFIRMED

    def is_deleted(self) -> bool:
        return self.state == TrackState.DELETED


@dataclass
class FrameAssociation:
    """What one `Tracker.update` decided (for tests, debugging and the golden comparison)."""

    time: int
    candidate_ids: list[int]
    cost: np.ndarray  # (candidates, detections) before capping
    terms: dict[str, np.ndarray]  # A, P, L, C, N, CN
    matches: list[tuple[int, int]]  # (track id, detection index), assignment order
    unmatched_track_ids: list[int]
    unmatched_detections: list[int]  # new tracks are started in this order
    new_track_ids: list[int]
    matched_batch: list[int] = field(default_factory=list)  # track ids of the matched prediction batch
    unmatched_batch: list[int] = field(default_factory=list)
    states: dict[int, TrackState] = field(default_factory=dict)  # live tracks after the update


def _observation_time(obs: PersonObservation) -> int:
    return int(obs.frame_index)


def _require(obs: PersonObservation, name: str) -> np.ndarray:
    value = getattr(obs, name)
    if value is None:
        raise InputError(f"The tracker needs `{name}` on every person (frame {obs.frame_index}); run HMAR first.")
    return value


def squared_distances_f32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise ||a_i - b_j||^2 as upstream computes it: float32 ||a||^2 + ||b||^2 - 2ab, clipped at 0.

    The expansion's cancellation error is part of the reference numbers (golden phalp/association).
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    a2 = np.square(a).sum(axis=1)
    b2 = np.square(b).sum(axis=1)
    r2 = np.float32(-2.0) * (a @ b.T) + a2[:, None] + b2[None, :]
    return np.clip(r2, np.float32(0.0), np.float32(np.inf))


def _ridge_line(t: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """sklearn Ridge(alpha, fit_intercept=True) on the design [1, t]: returns (mean t, mean y, slope).

    The constant column centres to zero, so its coefficient is 0 and the fit reduces to one slope.
    """
    t_mean = float(t.mean())
    y_mean = float(y.mean())
    dt = t - t_mean
    slope = float((dt * (y - y_mean)).sum() / ((dt * dt).sum() + alpha))
    return t_mean, y_mean, slope


@functools.lru_cache(maxsize=64)
def _student_t_975(dof: int) -> float:
    """The 97.5% Student-t quantile; scipy's ppf costs ~0.2 ms and a tracker asks for a few dofs only."""
    return float(student_t.ppf(0.975, dof))


def _prediction_interval(t: np.ndarray, y: np.ndarray, fit: tuple[float, float, float], t_star: float) -> float:
    """Student-t 95% prediction interval of a straight-line fit at t_star (n - 2 degrees of freedom)."""
    t_mean, y_mean, slope = fit
    n = y.size
    y_hat = y_mean + slope * (t - t_mean)
    s_err = np.sqrt(np.sum((y - y_hat) ** 2) / (n - 2))
    quantile = _student_t_975(n - 2)
    # A history of one repeated frame has zero spread: the interval is undefined (inf/NaN) as upstream;
    # only a tentative track that is being deleted can have one.
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.float64((t_star - t_mean) ** 2) / np.float64(np.sum((t - t_mean) ** 2))
        return float(quantile * s_err * np.sqrt(1.0 + 1.0 / n + spread))


def predict_location(locas: np.ndarray, times: np.ndarray, gap: int, config: TrackerConfig) -> np.ndarray:
    """Next location of one track from its history (spec 4.5): the 99-d 'loca' with a predicted tail.

    locas (H, 99) float32, times (H,) ints oldest first, gap = time_since_update.
    """
    locas = np.asarray(locas, dtype=np.float32)
    times = np.asarray(times, dtype=np.int64)
    joints = locas[:, :90].reshape(len(locas), 45, 2)
    x0 = joints[:, ROOT_JOINT, 0].astype(np.float64)
    y0 = joints[:, ROOT_JOINT, 1].astype(np.float64)
    # log in float32 as upstream (a float32 array through np.log), then the fits in float64
    log_depth = np.log(locas[:, 92]).astype(np.float64)
    t = times.astype(np.float64)
    # young tracks repeat their first detection: `dup` = 1 + number of repeated timestamps
    dup = 1 + int(np.sum(np.diff(times) == 0))
    t_star = float(times[-1] + min(int(gap), config.max_extrapolation_gap) + 1)

    def extrapolate(y: np.ndarray, alpha: float) -> tuple[float, float]:
        fit = _ridge_line(t, y, alpha)
        value = fit[1] + fit[2] * (t_star - fit[0])
        return value, _prediction_interval(t, y, fit, t_star)

    n_p, n_pi = extrapolate(log_depth, config.ridge_alpha_depth)
    x_p, x_pi = extrapolate(x0, config.ridge_alpha_x)
    y_p, y_pi = extrapolate(y0, config.ridge_alpha_y)
    depth = np.exp(n_p)
    res = float(config.render_res)
    tail = np.array(
        [
            (x_p - 0.5) * depth / config.focal_length * res,
            (y_p - 0.5) * depth / config.focal_length * res,
            depth,
            x_pi / dup,
            y_pi / dup,
            np.exp(n_pi) / dup,
            1.0,
            1.0,
            0.0,
        ],
        dtype=np.float64,
    )
    last_joints = joints[-1].copy()
    last_joints[ROOT_JOINT] = (x_p, y_p)
    return np.concatenate([last_joints.reshape(90), tail.astype(np.float32)]).astype(np.float32)


def appearance_distances(
    track_uvs: Sequence[np.ndarray],
    detection_uvs: Sequence[np.ndarray],
    encoder: UVEncoder,
    device: torch.device | str = "cpu",
    batch_pairs: int = 32,
    needed: np.ndarray | None = None,
) -> np.ndarray:
    """A_ij = 100 ||enc(m_ij * uv_i)/1000 - enc(m_ij * uv_j)/1000||^2 with m_ij = both maps visible.

    Every (track, detection) pair is re-encoded on the intersection of the two visibility masks; pairs
    are batched through the encoder (the pair term is independent of batching). With `needed` (a
    boolean (tracks, detections) array) only those pairs are encoded; the others are NaN.
    """
    n_t, n_d = len(track_uvs), len(detection_uvs)
    out = np.zeros((n_t, n_d), dtype=np.float64)
    if needed is not None:
        out[~needed] = np.nan
    pairs = [(i, j) for i in range(n_t) for j in range(n_d) if needed is None or needed[i, j]]
    if not pairs:
        return out
    tracks = torch.from_numpy(np.stack([np.asarray(u, dtype=np.float32) for u in track_uvs])).to(device)
    dets = torch.from_numpy(np.stack([np.asarray(u, dtype=np.float32) for u in detection_uvs])).to(device)
    with torch.no_grad():
        for start in range(0, len(pairs), batch_pairs):
            chunk = pairs[start : start + batch_pairs]
            ti = torch.tensor([p[0] for p in chunk], device=tracks.device)
            dj = torch.tensor([p[1] for p in chunk], device=tracks.device)
            a, b = tracks[ti], dets[dj]
            visible = ((a[:, 3:] > 0.5) & (b[:, 3:] > 0.5)).to(a.dtype)
            codes = encoder.encode_uv(torch.cat([a * visible, b * visible], dim=0))
            codes = codes.reshape(2 * len(chunk), -1).float().cpu().numpy() / np.float32(1000.0)
            code_a, code_b = codes[: len(chunk)], codes[len(chunk) :]
            diff = np.square(code_a - code_b).sum(axis=1) * np.float32(100.0)
            for (i, j), value in zip(chunk, diff, strict=True):
                out[i, j] = float(value)
    return out


# EQ_019 / EQ_010 coefficients [appearance, pose, location, depth] and pose clip (nn_matching._pdist)
_BETAS = {"EQ_019": ((4.0536, 1.3070, 0.3792, 4.1658), 1.5), "EQ_010": ((3.8303, 1.5207, 0.4930, 4.5831), 1.2)}
_SHOT_BETAS_EQ010 = (7.8303, 1.5207, 1e100, 1e100)


def association_costs(
    track_samples: Sequence[tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]],
    detections: Sequence[tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]],
    config: TrackerConfig,
    encoder: UVEncoder | None,
    shot: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The PHALP distance of every track sample to every detection; each item is (appe, loca, pose, uv).

    Returns the (tracks, detections) cost (float64, NaN -> 0, clamped at >= 0) and the separate terms
    (A is NaN for pairs skipped by `config.skip_decided_appearance`).
    """
    n_t, n_d = len(track_samples), len(detections)
    a_loca = np.stack([s[1] for s in track_samples]).astype(np.float32)
    b_loca = np.stack([d[1] for d in detections]).astype(np.float32)
    a_pose = np.stack([s[2] for s in track_samples]).astype(np.float32)
    b_pose = np.stack([d[2] for d in detections]).astype(np.float32)

    pose_term = squared_distances_f32(a_pose[:, :POSE_DIST_DIM], b_pose[:, :POSE_DIST_DIM])
    a_root = a_loca[:, :90].reshape(n_t, 45, 2)[:, ROOT_JOINT]
    b_root = b_loca[:, :90].reshape(n_d, 45, 2)[:, ROOT_JOINT]
    loc_term = np.sqrt(squared_distances_f32(a_root, b_root))
    a_tail, b_tail = a_loca[:, 90:], b_loca[:, 90:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        loc_unc = np.sqrt(a_tail[:, 3] ** 2 + a_tail[:, 4] ** 2)
        ratio = a_tail[:, 2:3] @ (np.float32(1.0) / b_tail[:, 2:3]).T
        depth_term = np.abs(np.log(ratio))  # -log(min(r, 1/r)) == |log r|
        depth_unc = np.abs(np.log(np.float32(1.0) / a_tail[:, 5]))
    loc_unc = np.tile(loc_unc[:, None], (1, n_d))
    depth_unc = np.tile(depth_unc[:, None], (1, n_d))

    betas, pose_clip = _BETAS[config.distance_type]
    texture = "T" in config.predict and not (shot and config.distance_type == "EQ_010")
    if shot and config.distance_type == "EQ_010":
        betas = _SHOT_BETAS_EQ010  # removes the location terms across a cut; appearance by the 4096-d codes
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pose_clipped = np.minimum(pose_term, np.float32(pose_clip))
        loc_part = loc_term / (np.float32(0.1) + np.tanh(loc_unc)) / np.float32(betas[2])
        depth_part = depth_term / (np.float32(0.1) + np.tanh(depth_unc)) / np.float32(betas[3])
        # every factor but the appearance one; the appearance factor (1 + b0 A) is >= 1
        rest = (
            (1.0 + pose_clipped.astype(np.float64) * betas[1])
            * np.exp(loc_part.astype(np.float64))
            * np.exp(depth_part.astype(np.float64))
        )

    if texture:
        if encoder is None:
            raise InputError("The 'T' appearance distance needs the HMAR UV encoder.")
        # a pair whose other factors already exceed the cap (or are NaN, which becomes 0) ends the same
        # whatever its appearance: skipping its encoder passes leaves every assignment decision unchanged
        needed = rest <= config.hungarian_th if config.skip_decided_appearance else None
        app_term = appearance_distances(
            [s[3] for s in track_samples], [d[3] for d in detections], encoder, device, needed=needed
        )
    elif "A" in config.predict or "T" in config.predict:
        a_appe = np.stack([_appe_or_fail(s[0]) for s in track_samples]) / np.float32(1000.0)
        b_appe = np.stack([_appe_or_fail(d[0]) for d in detections]) / np.float32(1000.0)
        app_term = squared_distances_f32(a_appe, b_appe).astype(np.float64)
    else:
        app_term = np.zeros((n_t, n_d))

    terms = {
        "A": app_term,
        "P": pose_term.astype(np.float64),
        "L": loc_term.astype(np.float64),
        "C": loc_unc.astype(np.float64),
        "N": depth_term.astype(np.float64),
        "CN": depth_unc.astype(np.float64),
    }
    with np.errstate(invalid="ignore", over="ignore"):
        cost = (1.0 + np.nan_to_num(app_term, nan=0.0) * betas[0]) * rest
    cost = np.maximum(0.0, np.nan_to_num(cost))
    return cost, terms


def _appe_or_fail(appe: np.ndarray | None) -> np.ndarray:
    if appe is None:
        raise InputError("The 'A' appearance distance needs the 4096-d HMAR appearance code of every person.")
    return np.asarray(appe, dtype=np.float32)


class Tracker:
    """PHALP's deep-SORT style tracker with EQ_019 costs (one association round, no Kalman filter)."""

    def __init__(
        self,
        config: TrackerConfig,
        pose_predictor: PoseForecaster | None,
        uv_encoder: UVEncoder | None,
        device: torch.device | str = "cpu",
    ) -> None:
        if "P" in config.predict and pose_predictor is None:
            raise InputError("predict contains 'P' but no pose predictor was given.")
        self.config = config
        self.pose_predictor = pose_predictor
        self.uv_encoder = uv_encoder
        self.device = torch.device(device)
        self.tracks: list[Track] = []
        self._next_id = 1

    # ---- per frame -------------------------------------------------------------------------------
    def predict(self) -> None:
        """Start of a frame: every track gets one frame older."""
        for track in self.tracks:
            track.age += 1
            track.time_since_update += 1

    def update(self, detections: Sequence[PersonObservation], time: int, shot: bool = False) -> FrameAssociation:
        """Associate this frame's people with the tracks and manage the track set (spec 5.3-5.4)."""
        cfg = self.config
        candidates = [i for i, tr in enumerate(self.tracks) if tr.state in (TrackState.TENTATIVE, TrackState.CONFIRMED)]
        n_det = len(detections)
        cost = np.zeros((len(candidates), n_det))
        terms: dict[str, np.ndarray] = {}
        matched_pairs: list[tuple[int, int]] = []
        unmatched_dets = list(range(n_det))
        if candidates and n_det:
            samples = [self._sample(self.tracks[i]) for i in candidates]
            det_feats = [
                (obs.appe, _require(obs, "loca"), _require(obs, "pose_vec"), _require(obs, "uv")) for obs in detections
            ]
            cost, terms = association_costs(samples, det_feats, cfg, self.uv_encoder, shot=shot, device=self.device)
            matched_pairs, unmatched_dets = self._assign(cost.copy(), candidates)
        # Upstream takes the unmatched tracks as a python set difference of list positions; its iteration
        # order decides which track comes first in the prediction batch (the pose predictor's slot quirk).
        unmatched_tracks = list(set(candidates) - {t for t, _ in matched_pairs})

        for track_idx, det_idx in matched_pairs:
            self._update_track(self.tracks[track_idx], detections[det_idx], shot)
        matched_batch = [t for t, _ in matched_pairs]
        self._predict_tracks(matched_batch)

        for track_idx in unmatched_tracks:
            self._mark_missed(self.tracks[track_idx])
        self._predict_tracks(unmatched_tracks)

        new_ids = [self._start_track(detections[d]) for d in unmatched_dets]
        record = FrameAssociation(
            time=int(time),
            candidate_ids=[self.tracks[i].track_id for i in candidates],
            cost=cost,
            terms=terms,
            matches=[(self.tracks[t].track_id, d) for t, d in matched_pairs],
            unmatched_track_ids=[self.tracks[t].track_id for t in unmatched_tracks],
            unmatched_detections=list(unmatched_dets),
            new_track_ids=new_ids,
            matched_batch=[self.tracks[t].track_id for t in matched_batch],
            unmatched_batch=[self.tracks[t].track_id for t in unmatched_tracks],
        )
        self.tracks = [tr for tr in self.tracks if not tr.is_deleted()]
        record.states = {tr.track_id: tr.state for tr in self.tracks}
        return record

    # ---- matching --------------------------------------------------------------------------------
    def _sample(self, track: Track) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        # the metric keeps one sample per track (past_lookback = 1): its latest predictions
        return track.predicted_appe[-1], track.predicted_loca[-1], track.predicted_pose[-1], track.predicted_uv[-1]

    def _assign(self, cost: np.ndarray, candidates: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
        th = self.config.hungarian_th
        cost[cost > th] = th + 1e-5
        rows, cols = linear_sum_assignment(cost)
        assigned_cols = set(int(c) for c in cols)
        unmatched = [d for d in range(cost.shape[1]) if d not in assigned_cols]
        matches = []
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] > th:  # a capped pair: both sides stay unmatched
                unmatched.append(int(c))
            else:
                matches.append((candidates[int(r)], int(c)))
        return matches, unmatched

    # ---- lifecycle -------------------------------------------------------------------------------
    def _start_track(self, obs: PersonObservation) -> int:
        cfg = self.config
        entry = HistoryEntry(
            time=_observation_time(obs),
            loca=np.asarray(_require(obs, "loca"), dtype=np.float32),
            pose=np.asarray(_require(obs, "pose_vec"), dtype=np.float32),
            conf=float(obs.score),
            observation=obs,
        )
        keep = cfg.n_init + 1
        track = Track(
            track_id=self._next_id,
            history=deque([entry] * cfg.track_history, maxlen=cfg.track_history),
            predicted_appe=deque([obs.appe], maxlen=keep),
            predicted_loca=deque([entry.loca], maxlen=keep),
            predicted_pose=deque([entry.pose], maxlen=keep),
            predicted_uv=deque([np.array(_require(obs, "uv"), copy=True)], maxlen=keep),
        )
        # a new track's first prediction is its own detection
        track.predicted_appe.append(obs.appe)
        track.predicted_loca.append(entry.loca)
        track.predicted_pose.append(entry.pose)
        self.tracks.append(track)
        self._next_id += 1
        return track.track_id

    def _update_track(self, track: Track, obs: PersonObservation, shot: bool) -> None:
        cfg = self.config
        loca = np.asarray(_require(obs, "loca"), dtype=np.float32)
        track.history.append(
            HistoryEntry(
                time=_observation_time(obs),
                loca=loca,
                pose=np.asarray(_require(obs, "pose_vec"), dtype=np.float32),
                conf=float(obs.score),
                observation=obs,
            )
        )
        if shot:
            # restart the location extrapolation at the new position after a cut
            track.history = deque([replace(h, loca=loca.copy()) for h in track.history], maxlen=cfg.track_history)
        if "T" in cfg.predict:
            uv = _require(obs, "uv")
            fused = fuse_uv(track.predicted_uv[-1], uv, conf=float(obs.score), alpha=cfg.alpha, device=self.device)
            track.predicted_uv.append(fused)
        else:
            track.predicted_uv.append(np.asarray(_require(obs, "uv")))
        track.hits += 1
        track.time_since_update = 0
        if track.state == TrackState.TENTATIVE and track.hits >= cfg.n_init:
            track.state = TrackState.CONFIRMED

    def _mark_missed(self, track: Track) -> None:
        if track.state == TrackState.TENTATIVE or track.time_since_update > self.config.max_age_track:
            track.state = TrackState.DELETED

    def _predict_tracks(self, track_indices: list[int]) -> None:
        """One batched pose + location prediction for these tracks (upstream accumulate_vectors)."""
        if not track_indices:
            return
        cfg = self.config
        tracks = [self.tracks[i] for i in track_indices]
        times = np.array([[h.time for h in tr.history] for tr in tracks], dtype=np.int64)
        gaps = np.array([tr.time_since_update for tr in tracks], dtype=np.int64)
        poses: list[np.ndarray | None] = [None] * len(tracks)
        locas: list[np.ndarray | None] = [None] * len(tracks)
        if "P" in cfg.predict:
            assert self.pose_predictor is not None
            en_pose = torch.from_numpy(np.stack([np.stack([h.pose for h in tr.history]) for tr in tracks]))
            with torch.no_grad():
                pred = self.pose_predictor.predict_next(
                    en_pose.float(),
                    torch.from_numpy(times),
                    torch.from_numpy(gaps),
                    first_track_slot_quirk=cfg.first_track_slot_quirk,
                )
            pred_np = pred.detach().float().cpu().numpy()
            poses = [pred_np[k].copy() for k in range(len(tracks))]
        if "L" in cfg.predict:
            locas = [
                predict_location(np.stack([h.loca for h in tr.history]), times[k], int(gaps[k]), cfg)
                for k, tr in enumerate(tracks)
            ]
        for k, tr in enumerate(tracks):
            tr.predicted_appe.append(tr.last.observation.appe)
            tr.predicted_loca.append(locas[k] if locas[k] is not None else tr.last.loca)
            tr.predicted_pose.append(poses[k] if poses[k] is not None else tr.last.pose)
