"""The rendered video: every tracked person's SMPL mesh over the frame, labels above heads, H.264 out.

Stage contract (what the pipeline gives `render_video`):
- `frames`: an iterable of `(frame_index, RGB uint8 (H, W, 3))`, streamed (never a list of the video);
- `people_per_frame`: a mapping or a callable `frame_index -> Sequence[RenderPerson]`; a callable lets the
  pipeline pose SMPL per frame, so vertices for the whole video are never held in memory;
- `smpl_faces`: (F, 3) triangle indices of the SMPL model the vertices come from.

Geometry is PHALP's (phalp_spec.md §4.1/§7): vertices in the SMPL body frame plus the full-image
translation `cam_t`, seen by a pinhole camera with focal 5000*S/256 (S = the frame's longer side) and
the principal point at the centre of the padded square. We render at the source resolution instead
of PHALP's padded 1280 px square resized to 1440 px wide, so the output keeps the source size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from lart_demo.config import Settings
from lart_demo.contracts import Clip, SmplPerson
from lart_demo.errors import InputError, VideoError
from lart_demo.labels import format_label
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.render.backends import (
    MeshInstance,
    MeshRenderer,
    RendererChoice,
    create_mesh_renderer,
)
from lart_demo.render.camera import DEFAULT_FOCAL_LENGTH, DEFAULT_MODEL_IMG_SIZE, FrameCamera, frame_camera, project
from lart_demo.render.colors import ghost_color, track_color
from lart_demo.render.overlay import (
    LabelBlock,
    TextStyle,
    blur_circles,
    draw_label_block,
    draw_mark,
    draw_stroke,
    head_circle,
    label_anchor,
    layout_label_block,
    mark_block,
    nearest_point,
    pick_labels,
    place_label_blocks,
)
from lart_demo.video.io import VideoWriter

log = logging.getLogger(__name__)

RENDER_STYLES = ("mesh", "mesh+labels", "side-by-side")
GHOST_OPACITY_FACTOR = 0.5  # in-filled (not detected) people are drawn at half the mesh opacity, lighter


@dataclass
class RenderPerson:
    """One person to draw in one frame."""

    track_id: int
    vertices: np.ndarray  # (V, 3) SMPL vertices in the body frame (no translation), metres
    cam_t: np.ndarray  # (3,) full-image translation (Tx, Ty, tz), PHALP 256-space convention ('camera')
    is_ghost: bool = False  # True: not detected in this frame, drawn from LART's in-filled SMPL + camera
    joints: np.ndarray | None = None  # (44 or 45, 3) body-frame SMPL joints (HMR2 order): label anchor, face blur
    labels: Sequence[tuple[str, float]] = ()  # (action name, probability), any order
    focal_length: float = DEFAULT_FOCAL_LENGTH  # from the HMR2 config (EXTRA.FOCAL_LENGTH)
    model_img_size: int = DEFAULT_MODEL_IMG_SIZE  # the square the focal length refers to


def pose_people(smpl: Callable[..., object], people: Sequence[SmplPerson]) -> list[RenderPerson]:
    """Run SMPL once for all people of a frame and return what the renderer draws.

    `smpl` is `lart_demo.models.smpl.SMPL` (or anything with its call signature returning `.vertices`
    and the 44 `.joints`). Meant for a per-frame callable passed to `render_video`, so vertices exist
    for one frame at a time.
    """
    if not people:
        return []
    # SMPL layers hold buffers, not parameters: take the device from whichever tensor the module has
    tensors = [*smpl.parameters(), *smpl.buffers()] if isinstance(smpl, torch.nn.Module) else []
    device = tensors[0].device if tensors else torch.device("cpu")

    def batch(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        values = np.stack([np.asarray(getattr(p, name), np.float32).reshape(shape) for p in people])
        return torch.from_numpy(values).to(device)

    with torch.no_grad():
        out = smpl(batch("global_orient", (1, 3, 3)), batch("body_pose", (23, 3, 3)), batch("betas", (-1,)))
    vertices = out.vertices.float().cpu().numpy()
    joints = out.joints.float().cpu().numpy()
    return [
        RenderPerson(
            track_id=p.track_id,
            vertices=vertices[k],
            cam_t=np.asarray(p.cam_t, np.float64).reshape(3),
            is_ghost=p.is_ghost,
            joints=joints[k],
            labels=p.labels,
        )
        for k, p in enumerate(people)
    ]


@dataclass(frozen=True)
class RenderOptions:
    labels_per_person: int = 3
    min_label_prob: float = 0.0
    mesh_opacity: float = 0.85
    render_style: str = "mesh+labels"
    face_blur: bool = False
    backend: str = "auto"  # "auto" | "egl" | "osmesa" | "cpu"
    mark: str = ""  # drawn on every frame when set, e.g. "RANDOM WEIGHTS: predictions are meaningless"

    def __post_init__(self) -> None:
        if self.render_style not in RENDER_STYLES:
            raise InputError(f"Unknown render style {self.render_style!r}; choose one of {', '.join(RENDER_STYLES)}.")
        if not 0.0 <= self.mesh_opacity <= 1.0:
            raise InputError(f"Mesh opacity must be between 0 and 1, got {self.mesh_opacity}.")
        if not 0.0 <= self.min_label_prob <= 1.0:
            raise InputError(f"The minimum label probability must be between 0 and 1, got {self.min_label_prob}.")
        if self.labels_per_person < 0:
            raise InputError(f"Labels per person cannot be negative, got {self.labels_per_person}.")

    @staticmethod
    def from_settings(settings: Settings, backend: str | None = None) -> RenderOptions:
        """Options from Settings; `backend` (explicit) wins over the settings' render backend."""
        chosen = backend or getattr(settings, "render_backend", None) or settings.extra.get("render_backend", "auto")
        return RenderOptions(
            labels_per_person=settings.labels_per_person,
            min_label_prob=settings.min_label_prob,
            mesh_opacity=settings.mesh_opacity,
            render_style=settings.render_style,
            face_blur=settings.face_blur,
            backend=chosen,
        )


def _camera_for(people: Sequence[RenderPerson], height: int, width: int) -> FrameCamera:
    conventions = {(p.focal_length, p.model_img_size) for p in people}
    if len(conventions) > 1:
        raise InputError(f"People in one frame use different camera conventions {sorted(conventions)}.")
    focal, img_size = conventions.pop() if conventions else (DEFAULT_FOCAL_LENGTH, DEFAULT_MODEL_IMG_SIZE)
    return frame_camera(height, width, focal_length=focal, model_img_size=img_size)


class FrameRenderer:
    """Draws one frame at a time; holds the (expensive to create) mesh renderer between frames."""

    def __init__(
        self,
        smpl_faces: np.ndarray,
        options: RenderOptions,
        renderer: MeshRenderer | None = None,
        device: str = "cpu",
    ) -> None:
        self.faces = np.asarray(smpl_faces, dtype=np.int64)
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise InputError(f"SMPL faces must be (F, 3), got {self.faces.shape}.")
        self.options = options
        if renderer is None:
            choice = create_mesh_renderer(options.backend, device)
        else:
            choice = RendererChoice(renderer, f"Rendering meshes with {renderer.name}.")
        self.mesh_renderer = choice.renderer
        self.notice = choice.notice
        self.fell_back = choice.fell_back

    def close(self) -> None:
        self.mesh_renderer.close()

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(width, height) of rendered frames for an H x W source frame."""
        return (2 * width if self.options.render_style == "side-by-side" else width), height

    def __call__(self, frame: np.ndarray, people: Sequence[RenderPerson]) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"Frames must be RGB uint8 (H, W, 3), got {frame.shape} {frame.dtype}.")
        h, w = frame.shape[:2]
        camera = _camera_for(people, h, w)
        # people entirely behind the camera cannot be drawn (a corrupt camera); skip them
        visible = [p for p in people if float(np.asarray(p.cam_t).reshape(3)[2]) > 0]
        placed = [(p, p.vertices + np.asarray(p.cam_t, np.float64).reshape(1, 3)) for p in visible]
        joints_cam = [
            None if p.joints is None else np.asarray(p.joints, np.float64) + np.asarray(p.cam_t).reshape(1, 3)
            for p in visible
        ]

        base = frame
        if self.options.face_blur:
            circles = [c for j in joints_cam if j is not None and (c := head_circle(j, camera)) is not None]
            base = blur_circles(frame, circles)

        composite = self._draw_meshes(base, placed, camera)
        style = TextStyle.for_frame(h, w)
        mark = mark_block(self.options.mark, (h, w), style) if self.options.mark else None
        if self.options.render_style != "mesh":
            self._draw_labels(composite, placed, joints_cam, camera, keep_clear=[mark] if mark else [])
        if mark is not None:
            draw_mark(composite, mark, style)
        if self.options.render_style == "side-by-side":
            return np.concatenate([base, composite], axis=1)
        return composite

    def _draw_meshes(
        self, base: np.ndarray, placed: list[tuple[RenderPerson, np.ndarray]], camera: FrameCamera
    ) -> np.ndarray:
        if not placed:
            return base.copy()
        meshes = [
            MeshInstance(v, ghost_color(track_color(p.track_id)) if p.is_ghost else track_color(p.track_id))
            for p, v in placed
        ]
        any_ghost = any(p.is_ghost for p, _ in placed)
        layer = self.mesh_renderer.render(meshes, self.faces, camera, need_owner=any_ghost)
        alpha = layer.alpha * self.options.mesh_opacity
        if any_ghost and layer.owner is not None:
            ghost_ids = np.array([k for k, (p, _) in enumerate(placed) if p.is_ghost])
            alpha = np.where(np.isin(layer.owner, ghost_ids), alpha * GHOST_OPACITY_FACTOR, alpha)
        a = alpha[..., None]
        out = base.astype(np.float32) * (1.0 - a) + layer.color * 255.0 * a
        return np.clip(out.round(), 0, 255).astype(np.uint8)

    def _draw_labels(
        self,
        image: np.ndarray,
        placed: list[tuple[RenderPerson, np.ndarray]],
        joints_cam: list[np.ndarray | None],
        camera: FrameCamera,
        keep_clear: Sequence[LabelBlock] = (),
    ) -> list[LabelBlock]:
        """Draw every visible person's label block; returns the blocks as drawn (none overlap)."""
        style = TextStyle.for_frame(*image.shape[:2])
        blocks, strokes = [], []
        for (person, verts), joints in zip(placed, joints_cam, strict=True):
            color = track_color(person.track_id)
            points_2d = project(verts, camera)
            on_screen = (
                (points_2d >= 0).all(axis=1) & (points_2d[:, 0] < camera.width) & (points_2d[:, 1] < camera.height)
            )
            if not on_screen.any():  # nobody to point at: a label pinned to the border would mislead
                continue
            joints_2d = None if joints is None else project(joints, camera)
            start, end = label_anchor(points_2d, joints_2d)
            labels = pick_labels(person.labels, self.options.labels_per_person, self.options.min_label_prob)
            header = f"#{person.track_id}" + (" (in-filled)" if person.is_ghost else "")
            lines = [format_label(prob, name) for name, prob in labels]
            blocks.append(layout_label_block(header, lines, color, end, image.shape[:2], style))
            strokes.append((start, end, color))
        drawn = []
        placed = place_label_blocks(blocks, image.shape[:2], style, gap=style.line_gap, keep_clear=keep_clear)
        for (start, _, color), block in zip(strokes, placed, strict=True):
            if block is None:
                continue
            draw_stroke(image, start, nearest_point(block, start), color, style.thickness + 1)
            drawn.append(block)
        for block in drawn:  # blocks over every stroke: a stroke never crosses another person's text
            draw_label_block(image, block, style)
        return drawn


# ----------------------------------------------------------------------------------------------------
# the video
# ----------------------------------------------------------------------------------------------------


PeopleSource = Mapping[int, Sequence[RenderPerson]] | Callable[[int], Sequence[RenderPerson]]


@dataclass
class RenderedVideo:
    path: Path
    n_frames: int
    fps: float
    size: tuple[int, int]  # (width, height)
    backend: str  # which mesh renderer drew it, e.g. "pyrender-egl" or "cpu"
    notice: str  # empty, or why OpenGL was unusable and the numpy fallback drew the meshes
    seconds: float = 0.0


def _people_lookup(people_per_frame: PeopleSource) -> Callable[[int], Sequence[RenderPerson]]:
    if callable(people_per_frame):
        return people_per_frame
    return lambda index: people_per_frame.get(index, ())


def render_video(
    clip: Clip,
    frames: Iterable[tuple[int, np.ndarray]],
    people_per_frame: PeopleSource,
    out_path: Path,
    smpl_faces: np.ndarray,
    settings: Settings,
    progress: ProgressFn = no_progress,
    *,
    renderer: MeshRenderer | None = None,
    keep_audio: bool = True,
    mark: str = "",
) -> RenderedVideo:
    """Render every frame, streaming into an H.264 mp4 at the clip's fps: one output frame per input frame.

    Frames flow one at a time from `frames` through the renderer into the encoder, so memory does not
    grow with the video. The clip's audio (its trimmed window) is kept when it has one and `keep_audio`
    is set. `renderer` overrides the mesh renderer chosen from `settings` (tests, benchmarks). `mark`
    is written on every frame (the random-weights warning).
    """
    options = replace(RenderOptions.from_settings(settings), mark=mark)
    frame_renderer = FrameRenderer(smpl_faces, options, renderer=renderer, device=settings.device)
    log.info(frame_renderer.notice)
    lookup = _people_lookup(people_per_frame)
    total = int(clip.n_frames)
    started = time.perf_counter()
    stream = iter(frames)
    try:
        first = next(stream, None)
        if first is None:
            raise VideoError("There were no frames to render: the clip decoded to zero frames. Try another video.")
        rendered = frame_renderer(first[1], lookup(first[0]))
        size = (rendered.shape[1], rendered.shape[0])
        audio = clip if keep_audio and clip.has_audio else None
        with VideoWriter(Path(out_path), float(clip.fps), size, audio) as writer:
            writer.write(rendered)
            progress("render", 1, total)
            for index, frame in stream:
                writer.write(frame_renderer(frame, lookup(index)))
                progress("render", writer.frames_written, total)
            written = writer.frames_written
    finally:
        frame_renderer.close()
    if written != total:
        log.warning("rendered %d frames but the clip has %d", written, total)
    return RenderedVideo(
        path=Path(out_path),
        n_frames=written,
        fps=float(clip.fps),
        size=size,
        backend=frame_renderer.mesh_renderer.name,
        notice=frame_renderer.notice if frame_renderer.fell_back else "",
        seconds=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------------------------
# per-track thumbnails and the contact sheet
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """A detection of a track in a frame (the thumbnail picks the most confident one)."""

    track_id: int
    frame_index: int
    score: float
    bbox_xyxy: np.ndarray  # (4,) original px


def best_sightings(sightings: Iterable[Sighting]) -> dict[int, Sighting]:
    """Per track, its highest-confidence detection (the earliest frame on ties)."""
    best: dict[int, Sighting] = {}
    for s in sightings:
        cur = best.get(s.track_id)
        if cur is None or s.score > cur.score or (s.score == cur.score and s.frame_index < cur.frame_index):
            best[s.track_id] = s
    return best


def crop_person(frame: np.ndarray, bbox_xyxy: np.ndarray, size: int = 160, margin: float = 0.1) -> np.ndarray:
    """The box (grown by `margin` per side) fitted into a size x size RGB square, letterboxed in dark grey."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(c) for c in bbox_xyxy)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    xa, ya = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
    xb, yb = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
    if xb <= xa or yb <= ya:
        raise InputError(f"The box {bbox_xyxy.tolist()} lies outside the {w}x{h} frame.")
    crop = frame[ya:yb, xa:xb]
    scale = size / max(crop.shape[0], crop.shape[1])
    resized = cv2.resize(
        crop,
        (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    out = np.full((size, size, 3), 32, np.uint8)
    oy, ox = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    out[oy : oy + resized.shape[0], ox : ox + resized.shape[1]] = resized
    return out


def with_track_thumbnails(
    frames: Iterable[tuple[int, np.ndarray]],
    sightings: Iterable[Sighting],
    out_dir: Path,
    size: int = 160,
) -> Iterator[tuple[int, np.ndarray]]:
    """Pass frames through unchanged, writing each track's `track_<id>.png` (its crop at its most confident
    detection) as that frame goes by, so thumbnails cost no extra decode pass."""
    wanted: dict[int, list[Sighting]] = {}
    for s in best_sightings(sightings).values():
        wanted.setdefault(s.frame_index, []).append(s)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, frame in frames:
        for s in wanted.pop(index, []):
            path = out_dir / f"track_{s.track_id}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(crop_person(frame, s.bbox_xyxy, size), cv2.COLOR_RGB2BGR)):
                raise VideoError(f"Could not write the thumbnail {path}; check that the folder is writable.")
        yield index, frame
