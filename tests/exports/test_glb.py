"""The 3D view's GLB: a valid binary glTF with each person's mesh in their colour and a ground grid."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from export_scenes import N_FRAMES, synthetic_motion, synthetic_result, synthetic_smpl

from lart_demo.config import Settings
from lart_demo.contracts import SmplPerson
from lart_demo.errors import InputError
from lart_demo.exports import write_exports
from lart_demo.exports.glb import write_frame_glb
from lart_demo.exports.motion import CAMERA_TO_Y_UP
from lart_demo.pipeline.results import write_result_json
from lart_demo.render.colors import ghost_color, track_color
from lart_demo.render.video import pose_people


@pytest.fixture(scope="module")
def smpl(smpl_dir: Path):
    return synthetic_smpl(smpl_dir)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, smpl) -> tuple[Path, dict[int, list[SmplPerson]]]:
    out = tmp_path_factory.mktemp("run")
    frames = {1: np.arange(0, 40), 3: np.arange(20, 60)}
    result = synthetic_result({tid: (f, np.full((len(f), 4), 0.2)) for tid, f in frames.items()})
    by_frame: dict[int, list[SmplPerson]] = {}
    for tid, f in frames.items():
        m = synthetic_motion(tid, f, seed=tid)
        m.cam_t[:, 0] += 1.5 * (tid - 2)  # side by side
        for i, frame in enumerate(f):
            by_frame.setdefault(int(frame), []).append(
                SmplPerson(
                    tid, m.global_orient[i][None], m.body_pose[i], m.betas[i], m.cam_t[i], not m.has_detection[i]
                )
            )
    result.files.update(write_exports(result, by_frame, out, Settings(), smpl))
    write_result_json(result, out / "results.json")
    return out, by_frame


def _load(path: Path) -> trimesh.Scene:
    data = path.read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and length == len(data)
    return trimesh.load(path, file_type="glb", process=False)


def test_frame_glb_has_everyone_drawn_there_and_a_grid(run, smpl) -> None:
    out, by_frame = run
    scene = _load(write_frame_glb(out, 30, smpl))
    assert set(scene.geometry) == {"person_1", "person_3", "ground_grid"}
    expected = {p.track_id: p for p in pose_people(smpl, by_frame[30])}
    for tid, person in expected.items():
        mesh = scene.geometry[f"person_{tid}"]
        want = (person.vertices + person.cam_t[None]) @ CAMERA_TO_Y_UP.T
        assert np.abs(np.asarray(mesh.vertices) - want).max() < 1e-4
        assert tuple(mesh.visual.vertex_colors[0][:3]) == track_color(tid)
    grid = scene.geometry["ground_grid"]
    lowest = min(np.asarray(scene.geometry[f"person_{t}"].vertices)[:, 1].min() for t in expected)
    assert np.asarray(grid.vertices)[:, 1].mean() == pytest.approx(lowest, abs=0.02)


def test_glb_follows_the_frame_and_marks_in_filled_people(run, smpl) -> None:
    out, by_frame = run
    early = _load(write_frame_glb(out, 5, smpl))
    assert set(early.geometry) == {"person_1", "ground_grid"}
    ghost_frame = next(f for f, people in sorted(by_frame.items()) if any(p.is_ghost for p in people))
    scene = _load(write_frame_glb(out, ghost_frame, smpl))
    ghost = next(p for p in by_frame[ghost_frame] if p.is_ghost)
    colour = tuple(scene.geometry[f"person_{ghost.track_id}"].visual.vertex_colors[0][:3])
    assert colour == ghost_color(track_color(ghost.track_id))
    assert not np.allclose(early.geometry["person_1"].vertices, scene.geometry["person_1"].vertices)


def test_frames_outside_the_clip_are_refused(run, smpl) -> None:
    out, _ = run
    with pytest.raises(InputError, match="outside"):
        write_frame_glb(out, N_FRAMES, smpl)
