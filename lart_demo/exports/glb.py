"""A GLB (binary glTF) of one frame: every person's SMPL mesh in their track colour, on a ground grid.

Made on request from a finished run folder (the page's 3D view and its download button): each person's
pose comes from person_<id>_smpl.npz, posed with the run's SMPL body. Axes are glTF's (Y up, metres, the
camera at the origin looking down -Z, as in the BVH files). In-filled people (no detection in this frame)
are drawn in a lighter shade, as in the video. The grid lies under the lowest point of the people, 0.5 m
between lines, reaching 1 m beyond them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lart_demo.atomic import atomic_write_bytes
from lart_demo.errors import InputError
from lart_demo.exports.motion import CAMERA_TO_Y_UP
from lart_demo.pipeline.results import read_result_json
from lart_demo.render.colors import ghost_color, track_color

GRID_STEP_M = 0.5
GRID_MARGIN_M = 1.0
GRID_LINE_M = 0.012
GRID_RGBA = (150, 150, 150, 255)
VIEW_FOLDER = "view3d"


@dataclass
class FramePerson:
    track_id: int
    color: tuple[int, int, int]
    is_ghost: bool
    pose: np.ndarray  # (72,) axis-angle
    betas: np.ndarray  # (10,)
    trans: np.ndarray  # (3,) camera frame


def people_at_frame(run_dir: Path, frame: int) -> list[FramePerson]:
    """Everyone drawn in clip frame `frame` of a finished run, from its person_<id>_smpl.npz files."""
    result = read_result_json(Path(run_dir) / "results.json")
    colors = {t.track_id: t.color_index for t in result.tracks}
    people = []
    for role, name in sorted(result.files.items()):
        if not (role.startswith("person_") and role.endswith("_smpl_npz")):
            continue
        with np.load(Path(run_dir) / name, allow_pickle=False) as data:
            frames = data["frame_index"]
            pos = int(np.searchsorted(frames, frame))
            if pos >= len(frames) or frames[pos] != frame:
                continue
            tid = int(data["track_id"])
            color = track_color(colors.get(tid, tid))
            ghost = not bool(data["has_detection"][pos])
            people.append(
                FramePerson(
                    track_id=tid,
                    color=ghost_color(color) if ghost else color,
                    is_ghost=ghost,
                    pose=data["poses"][pos].astype(np.float32),
                    betas=data["frame_betas"][pos].astype(np.float32),
                    trans=data["trans"][pos].astype(np.float64),
                )
            )
    return people


def posed_vertices(smpl: object, people: list[FramePerson]) -> list[np.ndarray]:
    """Each person's (V, 3) vertices in the camera frame, posed by the pipeline's SMPL layer."""
    if not people:
        return []
    import torch  # posing needs torch; reading the run folder does not
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_rotvec(np.stack([p.pose for p in people]).reshape(-1, 3)).as_matrix()
    rot = torch.from_numpy(rot.reshape(len(people), 24, 3, 3).astype(np.float32))
    betas = torch.from_numpy(np.stack([p.betas for p in people]))
    with torch.no_grad():
        out = smpl(rot[:, :1], rot[:, 1:], betas)
    verts = out.vertices.double().cpu().numpy()
    return [v + p.trans[None] for v, p in zip(verts, people, strict=True)]


def _grid(points: np.ndarray) -> list:
    """Thin boxes along X and Z on the floor under `points` (Y-up, (N, 3)); closed, so seen from any side."""
    import trimesh

    floor = float(points[:, 1].min())
    lo = np.floor((points[:, [0, 2]].min(axis=0) - GRID_MARGIN_M) / GRID_STEP_M) * GRID_STEP_M
    hi = np.ceil((points[:, [0, 2]].max(axis=0) + GRID_MARGIN_M) / GRID_STEP_M) * GRID_STEP_M
    boxes = []
    for x in np.arange(lo[0], hi[0] + 1e-6, GRID_STEP_M):
        box = trimesh.creation.box(extents=(GRID_LINE_M, GRID_LINE_M, hi[1] - lo[1]))
        box.apply_translation((x, floor, (lo[1] + hi[1]) / 2))
        boxes.append(box)
    for z in np.arange(lo[1], hi[1] + 1e-6, GRID_STEP_M):
        box = trimesh.creation.box(extents=(hi[0] - lo[0], GRID_LINE_M, GRID_LINE_M))
        box.apply_translation(((lo[0] + hi[0]) / 2, floor, z))
        boxes.append(box)
    grid = trimesh.util.concatenate(boxes)
    grid.visual.vertex_colors = np.tile(np.array(GRID_RGBA, np.uint8), (len(grid.vertices), 1))
    return grid


def frame_glb(people: list[FramePerson], vertices: list[np.ndarray], faces: np.ndarray) -> bytes:
    """The GLB bytes of one frame's people (camera-frame `vertices`) and the ground grid."""
    import trimesh  # only the 3D view and its download need trimesh

    scene = trimesh.Scene()
    y_up = [v @ CAMERA_TO_Y_UP.T for v in vertices]
    for person, verts in zip(people, y_up, strict=True):
        rgba = np.array([*person.color, 255], np.uint8)
        mesh = trimesh.Trimesh(verts, faces, process=False, vertex_colors=np.tile(rgba, (len(verts), 1)))
        scene.add_geometry(mesh, node_name=f"person_{person.track_id}", geom_name=f"person_{person.track_id}")
    points = np.concatenate(y_up) if y_up else np.array([[0.0, -1.0, -4.0]])  # nobody: a floor ahead of the camera
    scene.add_geometry(_grid(points), node_name="ground_grid", geom_name="ground_grid")
    return scene.export(file_type="glb")


def write_frame_glb(run_dir: Path, frame: int, smpl: object) -> Path:
    """run_dir/view3d/frame_<frame>.glb (made once, then reused)."""
    run_dir = Path(run_dir)
    result = read_result_json(run_dir / "results.json")
    if not 0 <= int(frame) < result.clip.n_frames:
        raise InputError(f"Frame {frame} is outside the clip's {result.clip.n_frames} frames.")
    path = run_dir / VIEW_FOLDER / f"frame_{int(frame):06d}.glb"
    if path.is_file():
        return path
    people = people_at_frame(run_dir, int(frame))
    faces = np.asarray(smpl.faces, dtype=np.int64)
    data = frame_glb(people, posed_vertices(smpl, people), faces)
    return atomic_write_bytes(path, data if isinstance(data, bytes) else io.BytesIO(data).getvalue())
