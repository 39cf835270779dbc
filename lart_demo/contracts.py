"""Typed records passed between stages (DESIGN.md "Stage contracts").

    source -> Clip -> [people] FramePeople(PersonObservation...) per frame -> [tracking] Track per identity
    -> [appearance] Track.appearance -> [actions] ActionResult per track -> [render] SmplPerson per frame
    -> Result (results.json / actions.csv); tracks.pkl is built from these at export time (exports/tracks_pkl.py).

Conventions used by every stage:
- frames are RGB uint8 arrays (H, W, 3); modules that reproduce upstream BGR code convert locally;
- boxes are float32 xyxy in original-frame pixels unless a name says `tlwh`;
- frame indices are 0-based positions in the (possibly trimmed/resampled) clip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lart_demo.errors import InputError

if TYPE_CHECKING:  # annotation only: video.io builds clips and imports this module
    from lart_demo.video.io import VideoInfo


# ---- the clip ------------------------------------------------------------------------------------
class FrameReader(Protocol):
    """Yields the clip's frames `start <= k < stop` as (k, RGB uint8 array), one at a time."""

    def iter_frames(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]: ...


@dataclass(frozen=True)
class Clip:
    """A validated clip: `n_frames` upright RGB frames of `size` (w, h) at a constant `fps`.

    Frame k shows the source at time `start_s + k / fps` (seconds from the source's first frame).
    `caps_applied` says, in sentences for the user, every way the clip differs from the source
    (trim, duration cap, downscale, fps); `notes` holds other facts worth showing (rotation, VFR).
    """

    path: Path
    source: str  # "upload" | "youtube" | "frames" | "example"
    fps: float
    n_frames: int
    size: tuple[int, int]
    start_s: float
    source_fps: float
    source_size: tuple[int, int]
    source_duration_s: float
    has_audio: bool
    caps_applied: tuple[str, ...]
    notes: tuple[str, ...]
    reader: FrameReader = field(repr=False, compare=False)
    info: VideoInfo | None = field(default=None, repr=False, compare=False)

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def frame_time(self, index: int) -> float:
        """Seconds into the source at which clip frame `index` is shown."""
        return self.start_s + index / self.fps

    def to_dict(self) -> dict[str, object]:
        """JSON-safe description for results and the UI."""
        return {
            "path": str(self.path),
            "source": self.source,
            "fps": self.fps,
            "n_frames": self.n_frames,
            "width": self.width,
            "height": self.height,
            "duration_s": self.duration_s,
            "start_s": self.start_s,
            "source_fps": self.source_fps,
            "source_width": self.source_size[0],
            "source_height": self.source_size[1],
            "source_duration_s": self.source_duration_s,
            "has_audio": self.has_audio,
            "caps_applied": list(self.caps_applied),
            "notes": list(self.notes),
        }


# ---- per frame: detection and 3D people ------------------------------------------------------------
@dataclass
class Detections:
    """People found in one frame by the detector (person class only, after NMS/threshold/size filter)."""

    boxes: np.ndarray  # (N, 4) float32 xyxy
    scores: np.ndarray  # (N,) float32
    masks: np.ndarray | None  # (N, H, W) bool; None = not known (a detector stand-in fills in box masks)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class PersonObservation:
    """One detected person in one frame, after HMR2.0 (and, during tracking, HMAR)."""

    frame_index: int
    bbox_xyxy: np.ndarray  # (4,) float32
    score: float
    center: np.ndarray  # (2,) box centre, original px
    scale: np.ndarray  # (2,) box (w, h), original px
    global_orient: np.ndarray  # (1, 3, 3)
    body_pose: np.ndarray  # (23, 3, 3)
    betas: np.ndarray  # (10,)
    pred_cam: np.ndarray  # (3,) HMR2 crop camera (s, tx, ty)
    cam_t: np.ndarray  # (3,) full-image camera translation (Tx, Ty, tz)
    joints_3d: np.ndarray  # (45, 3) body frame, no translation
    joints_2d: np.ndarray  # (90,) 2D joints in the padded-square 256 space divided by 256
    pose_vec: np.ndarray  # (229,) [go 9 | body_pose 207 | betas 10 | Tx, Ty, tz/200]
    loca: np.ndarray  # (99,) [joints_2d 90 | cam_t x3]
    mask: np.ndarray | None = None  # (H, W) bool
    crop: np.ndarray | None = None  # (4, 256, 256) float32 HMAR/HMR2 input (kept only while tracking)
    uv: np.ndarray | None = None  # (4, 256, 256) float32 HMAR uv_vector
    appe: np.ndarray | None = None  # (4096,) float32 HMAR appearance code


@dataclass
class FramePeople:
    """Everything the per-frame stage found in one frame."""

    frame_index: int
    image_size: tuple[int, int]  # (H, W)
    people: list[PersonObservation] = field(default_factory=list)


# ---- per identity: tracking, appearance, actions --------------------------------------------------------
@dataclass
class Track:
    """One identity from its first to its last detection: arrays over its T frames (PHALP's fast track).

    Where `has_detection` is False the body fields hold zeros (the tracker had no observation there);
    `listed` says whether the tracker still held the identity in that frame (a ghost PHALP predicted).
    """

    track_id: int
    frame_index: np.ndarray  # (T,) int64 clip frame of each track frame
    has_detection: np.ndarray  # (T,) bool
    listed: np.ndarray  # (T,) bool: detected, or kept alive without a detection (a ghost)
    boxes_tlwh: np.ndarray  # (T, 4) float64 detected box (x, y, w, h), original px; zeros without a detection
    box_conf: np.ndarray  # (T,) float64 detector score; 0 without a detection
    global_orient: np.ndarray  # (T, 1, 3, 3) float32 HMR2.0 body
    body_pose: np.ndarray  # (T, 23, 3, 3) float32
    betas: np.ndarray  # (T, 10) float32
    cam_t: np.ndarray  # (T, 3) float32 full-image translation (Tx, Ty, tz), what the renderer uses
    camera_bbox: np.ndarray  # (T, 3) float64 HMR2 crop camera (s, tx, ty)
    joints_3d: np.ndarray  # (T, 45, 3) float64 body-frame joints
    camera: np.ndarray  # (T, 3) float64 (Tx, Ty, tz / 200): LART's location input (float32 arithmetic, as upstream)
    pose_shape: np.ndarray  # (T, 229) float64 [global_orient 9 | body_pose 207 | betas 10 | camera 3]
    appearance: np.ndarray | None = None  # (T, D) float32 MViT features, filled by the appearance stage

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])


@dataclass
class ActionResult:
    """LART's per-frame result for one track (frames = the track's span, first to last detection)."""

    frame_index: np.ndarray  # (T,) int64 video frame of each track frame
    has_detection: np.ndarray  # (T,) bool
    tokens: np.ndarray  # (T, in_feat) float32 stitched encoder tokens
    logits: np.ndarray  # (T, 60) float32 AVA logits
    probs: np.ndarray  # (T, 60) float32 sigmoid(logits): multi-label probabilities
    top_index: np.ndarray  # (T, 3) int64 output indices, best first
    top_ava_id: np.ndarray  # (T, 3) int64 AVA ids
    top_prob: np.ndarray  # (T, 3) float32
    top_labels: list[list[str]]  # (T, 3) the demo's strings, e.g. "87% : stand"
    # LART's own body estimate for every frame; the demo draws it only where there is no detection
    global_orient: np.ndarray  # (T, 1, 3, 3)
    body_pose: np.ndarray  # (T, 23, 3, 3)
    betas: np.ndarray  # (T, 10)
    camera: np.ndarray  # (T, 3) full-image translation (tx, ty, tz) = location head with z * 200
    location: np.ndarray  # (T, 3) location head output (tx, ty, tz/200), the reference's 'cam_smoothed'
    pose_camera: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 229), np.float32))


# ---- per frame: what the renderer draws ------------------------------------------------------------------
@dataclass
class SmplPerson:
    """A person to draw in one frame (SMPL parameters), before posing the mesh."""

    track_id: int
    global_orient: np.ndarray  # (1, 3, 3) rotation matrix
    body_pose: np.ndarray  # (23, 3, 3) rotation matrices
    betas: np.ndarray  # (10,)
    cam_t: np.ndarray  # (3,) full-image translation, PHALP 'camera' convention
    is_ghost: bool = False  # not detected in this frame: LART's in-filled body
    labels: Sequence[tuple[str, float]] = ()  # (action name, probability)


# ---- the result of a run (written by pipeline/results.py) -------------------------------------------------
@dataclass
class ClipMeta:
    """The analysed clip as results.json describes it."""

    name: str
    source: str
    fps: float
    n_frames: int
    width: int
    height: int
    duration_s: float
    start_s: float = 0.0
    caps_applied: list[str] = field(default_factory=list)
    source_url: str | None = None
    content_hash: str | None = None


@dataclass
class TrackResult:
    """One identity in results.json: its frames, boxes and per-frame action probabilities."""

    track_id: int
    frames: np.ndarray  # (T,) int64, ascending
    has_detection: np.ndarray  # (T,) bool
    boxes_xyxy: np.ndarray  # (T, 4) float32, NaN rows where there is no box
    color_index: int = 0
    thumbnail: str | None = None
    action_probs: np.ndarray | None = None  # (T, A) float32

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        n = self.frames.shape[0]
        self.has_detection = np.asarray(self.has_detection, dtype=bool).reshape(-1)
        boxes = np.asarray(self.boxes_xyxy, dtype=np.float32)
        self.boxes_xyxy = boxes.reshape(0, 4) if n == 0 and boxes.size == 0 else boxes
        if self.boxes_xyxy.shape != (n, 4):
            raise InputError(f"Track {self.track_id}: boxes of shape {boxes.shape} do not match its {n} frames.")
        if self.has_detection.shape[0] != n:
            raise InputError(f"Track {self.track_id}: {n} frames but {self.has_detection.shape[0]} detection flags.")
        if n and np.any(np.diff(self.frames) <= 0):
            raise InputError(f"Track {self.track_id}: frame indices must be strictly ascending.")
        if self.action_probs is not None:
            self.action_probs = np.asarray(self.action_probs, dtype=np.float32)
            if self.action_probs.ndim != 2 or self.action_probs.shape[0] != n:
                raise InputError(
                    f"Track {self.track_id}: action probabilities of shape {self.action_probs.shape} "
                    f"do not match its {n} frames."
                )


@dataclass
class Result:
    """Everything one analysis produced that results.json and actions.csv hold (pipeline/results.py)."""

    clip: ClipMeta
    tracks: list[TrackResult]
    action_names: list[str]
    action_ava_ids: list[int]
    timings_s: dict[str, float] = field(default_factory=dict)
    model_versions: dict[str, str] = field(default_factory=dict)
    random_weights: bool = False
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created_utc: str | None = None
    work: dict[str, int] = field(default_factory=dict)  # counts of the work done (pipeline/work.py)
    precision: dict[str, Any] = field(default_factory=dict)  # what lart_demo.precision ran (policy.describe())

    def __post_init__(self) -> None:
        if len(self.action_names) != len(self.action_ava_ids):
            raise InputError(
                f"{len(self.action_names)} action names but {len(self.action_ava_ids)} AVA ids; they must pair up."
            )
        for track in self.tracks:
            if track.action_probs is not None and track.action_probs.shape[1] != len(self.action_names):
                raise InputError(
                    f"Track {track.track_id} has {track.action_probs.shape[1]} action probabilities per frame, "
                    f"but the result names {len(self.action_names)} actions."
                )
        ids = [t.track_id for t in self.tracks]
        if len(ids) != len(set(ids)):
            raise InputError("Two tracks share a track id.")
        self.tracks.sort(key=lambda t: t.track_id)

    def track(self, track_id: int) -> TrackResult:
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        raise KeyError(track_id)
