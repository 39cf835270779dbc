"""Rendering geometry, colours, labels, face blur and the CPU fallback (synthetic SMPL, no weights)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from render_helpers import gl_renderer, posed_bodies, synthetic_smpl

from lart_demo.config import Settings
from lart_demo.errors import InputError, ModelError
from lart_demo.render.backends import (
    MeshInstance,
    NumpyMeshRenderer,
    create_mesh_renderer,
    probe_gl_platform,
)
from lart_demo.render.camera import frame_camera, project
from lart_demo.render.colors import SLAHMR_PALETTE, ghost_color, track_color
from lart_demo.render.overlay import TextStyle, layout_label_block, pick_labels
from lart_demo.render.video import FrameRenderer, RenderOptions, RenderPerson

# Frame sizes with landscape, portrait and odd padding (S - H or S - W odd).
SIZES = [(288, 398), (480, 270), (301, 517)]
# Silhouette tolerance between pyrender and the numpy fallback: every pixel of one mask lies within
# one pixel (3x3 neighbourhood) of the other, and IoU >= 0.97 (boundary anti-aliasing only).
FALLBACK_MIN_IOU = 0.97


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return synthetic_smpl(smpl_dir)


@pytest.fixture(scope="module")
def bodies(smpl):
    return posed_bodies(smpl, 4, seed=0)


def phalp_cam_t(pred_cam, box_center, box_size, height, width, focal=5000.0, res=256):
    """The spec's get_3d_parameters (phalp_spec.md §4.1) written out independently of lart_demo."""
    side = max(height, width)
    r = res / side
    top, left = (side - height) // 2, (side - width) // 2
    cx, cy = (box_center[0] + left) * r, (box_center[1] + top) * r
    b = box_size * r
    s, tx, ty = pred_cam
    tz = 2 * focal / (s * b + 1e-9)
    return np.array([tx + (cx - res / 2) * tz / focal, ty + (cy - res / 2) * tz / focal, tz])


# ---------------------------------------------------------------------------------------------------- camera


@pytest.mark.parametrize(("height", "width"), [(288, 398), (1088, 1920), (480, 270), (301, 518)])
def test_origin_projects_where_hmr2_places_the_box(height, width):
    """A body origin with PHALP's cam_t lands at box centre + (tx, ty) * s * b / 2 (hmr2 cam_crop_to_full)."""
    rng = np.random.default_rng(height)
    camera = frame_camera(height, width)
    for _ in range(20):
        center = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        box = rng.uniform(50, max(height, width))
        pred_cam = np.array([rng.uniform(0.5, 1.5), rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2)])
        cam_t = phalp_cam_t(pred_cam, center, box, height, width)
        got = project(cam_t[None], camera)[0]
        want = center + pred_cam[1:] * pred_cam[0] * box / 2
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_focal_scales_with_the_long_side():
    cam = frame_camera(1088, 1920)
    assert cam.focal == pytest.approx(5000 * 1920 / 256)
    assert (cam.cx, cam.cy) == (960.0, 544.0)
    odd = frame_camera(301, 517)  # padding (517 - 301) // 2 = 108 rows on top
    assert odd.cy == pytest.approx(517 / 2 - 108)


# ---------------------------------------------------------------------------------------------------- pixels


def _silhouette(renderer, vertices, faces, camera):
    return renderer.render([MeshInstance(vertices, (200, 100, 50))], faces, camera).alpha > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["gl", "cpu"])
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_mesh_pixels_land_on_the_projection(backend, height, width, smpl, bodies):
    """The rendered silhouette's extent equals the projected extent of the mesh within 1 px."""
    renderer = gl_renderer() if backend == "gl" else NumpyMeshRenderer()
    vertices, _ = bodies
    used = np.unique(smpl.faces)  # the synthetic model has a few vertices no face uses
    camera = frame_camera(height, width)
    rng = np.random.default_rng(1)
    for body in vertices:
        cam_t = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1), rng.uniform(70, 110)])
        placed = body + cam_t
        mask = _silhouette(renderer, placed, smpl.faces, camera)
        ys, xs = np.nonzero(mask)
        p = project(placed[used], camera)
        want = np.array([p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()])
        want = np.clip(want, 0, [width, width, height, height])  # a body may reach beyond the frame
        got = np.array([xs.min(), xs.max() + 1, ys.min(), ys.max() + 1])  # pixel edges, continuous coords
        assert np.abs(got - want).max() <= 1.0, (got, want)


@pytest.mark.slow
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_fallback_silhouette_matches_pyrender(height, width, smpl, bodies):
    gl = gl_renderer()
    vertices, _ = bodies
    camera = frame_camera(height, width)
    rng = np.random.default_rng(2)
    kernel = np.ones((3, 3), np.uint8)
    for body in vertices:
        placed = body + np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.3), rng.uniform(40, 90)])
        a = _silhouette(gl, placed, smpl.faces, camera)
        b = _silhouette(NumpyMeshRenderer(), placed, smpl.faces, camera)
        assert a.sum() > 500
        assert (a & b).sum() / (a | b).sum() >= FALLBACK_MIN_IOU
        assert not (a & ~cv2.dilate(b.astype(np.uint8), kernel).astype(bool)).any()
        assert not (b & ~cv2.dilate(a.astype(np.uint8), kernel).astype(bool)).any()


@pytest.mark.parametrize("backend", ["gl", "cpu"])
def test_nearer_person_occludes_and_owner_map(backend, smpl, bodies):
    renderer = gl_renderer() if backend == "gl" else NumpyMeshRenderer()
    vertices, _ = bodies
    camera = frame_camera(288, 398)
    near = vertices[0] + np.array([0.0, 0.0, 50.0])
    far = vertices[1] + np.array([0.1, 0.0, 70.0])
    layer = renderer.render(
        [MeshInstance(far, (255, 1, 1)), MeshInstance(near, (1, 1, 255))], smpl.faces, camera, need_owner=True
    )
    only_near = _silhouette(renderer, near, smpl.faces, camera)
    inside = cv2.erode(only_near.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (layer.owner[inside] == 1).all()  # the far body never shows through the near one
    assert (layer.owner == 0).sum() > 100  # and is visible where it is not covered


# ---------------------------------------------------------------------------------------------------- colours


def test_palette_is_slahmr_and_stable():
    assert SLAHMR_PALETTE.shape == (97, 3)
    assert track_color(1) == (1, 187, 249)  # slahmr row 1 with 0 -> 1
    assert track_color(0) == (241, 91, 181)
    assert track_color(500) == track_color(500)  # beyond the palette: deterministic
    assert len({track_color(i) for i in range(97, 160)}) > 50
    assert all(c >= t for c, t in zip(ghost_color(track_color(3)), track_color(3), strict=True))


def _mesh_mean_color(image, frame, mask):
    return image[mask].astype(float).mean(axis=0), frame[mask].astype(float).mean(axis=0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["gl", "cpu"])
def test_track_colour_is_stable_across_frames(backend, smpl, bodies):
    renderer = gl_renderer() if backend == "gl" else NumpyMeshRenderer()
    vertices, _ = bodies
    frame = np.full((288, 398, 3), 40, np.uint8)
    draw = FrameRenderer(smpl.faces, RenderOptions(render_style="mesh", mesh_opacity=1.0), renderer=renderer)
    camera = frame_camera(288, 398)
    hues = {}
    for tid in (1, 2, 7):
        per_frame = []
        for k, t in enumerate(([0.0, 0.0, 60.0], [0.2, 0.05, 70.0])):
            person = RenderPerson(tid, vertices[k], np.array(t))
            mask = _silhouette(NumpyMeshRenderer(), vertices[k] + np.array(t), smpl.faces, camera)
            mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            img = draw(frame, [person])
            mean = img[mask].astype(float).mean(axis=0)
            per_frame.append(mean / mean.sum())
        # the chromaticity of a track is the same in both frames and follows the palette colour
        np.testing.assert_allclose(per_frame[0], per_frame[1], atol=0.03)
        want = np.array(track_color(tid), float)
        assert np.argmax(per_frame[0]) == np.argmax(want)
        hues[tid] = per_frame[0]
    assert np.abs(hues[1] - hues[2]).max() > 0.05 and np.abs(hues[2] - hues[7]).max() > 0.05


def test_ghost_is_drawn_lighter_and_more_transparent(smpl, bodies):
    vertices, _ = bodies
    frame = np.full((288, 398, 3), 90, np.uint8)
    draw = FrameRenderer(smpl.faces, RenderOptions(render_style="mesh"), renderer=NumpyMeshRenderer())
    cam_t = np.array([0.0, 0.0, 60.0])
    mask = _silhouette(NumpyMeshRenderer(), vertices[0] + cam_t, smpl.faces, frame_camera(288, 398))
    detected = draw(frame, [RenderPerson(4, vertices[0], cam_t)])
    ghost = draw(frame, [RenderPerson(4, vertices[0], cam_t, is_ghost=True)])
    change_detected = np.abs(detected[mask].astype(float) - 90).mean()
    change_ghost = np.abs(ghost[mask].astype(float) - 90).mean()
    assert 0 < change_ghost < 0.75 * change_detected
    assert ghost[mask].mean() > detected[mask].mean()  # lighter
    assert (ghost[~mask] == 90).all() and (detected[~mask] == 90).all()


# ---------------------------------------------------------------------------------------------------- labels


def test_pick_labels_orders_filters_and_limits():
    labels = [("walk", 0.2), ("stand", 0.9), ("talk", 0.05), ("dance", 0.5)]
    assert pick_labels(labels, 3, 0.0) == [("stand", 0.9), ("dance", 0.5), ("walk", 0.2)]
    assert pick_labels(labels, 3, 0.3) == [("stand", 0.9), ("dance", 0.5)]
    assert pick_labels(labels, 1, 0.0) == [("stand", 0.9)]
    assert pick_labels(labels, 0, 0.0) == []


@pytest.mark.parametrize(("height", "width"), [(288, 398), (1088, 1920), (120, 160)])
@pytest.mark.parametrize("anchor", [(-80.0, -50.0), (5000.0, 20.0), (10.0, 10_000.0), (200.0, 150.0)])
def test_label_block_stays_inside_the_frame(height, width, anchor):
    style = TextStyle.for_frame(height, width)
    lines = ["87% : stand", "40% : talk to (e.g., self, a person, a group)", "20% : walk"]
    block = layout_label_block("#12", lines, (1, 187, 249), np.array(anchor), (height, width), style)
    x, y = block.origin
    bw, bh = block.size
    if bw <= width and bh <= height:
        assert 0 <= x and x + bw <= width and 0 <= y and y + bh <= height
    assert block.lines[1] == lines[0]  # the top-1 label is the highest label line


@pytest.mark.parametrize("where", ["left", "top", "right"])
def test_labels_of_people_at_the_border_are_drawn_inside(where, smpl, bodies):
    vertices, joints = bodies
    h, w = 288, 398
    offsets = {"left": [-0.9, 0.0, 60.0], "top": [0.0, -0.7, 60.0], "right": [0.9, 0.0, 60.0]}
    person = RenderPerson(5, vertices[0], np.array(offsets[where]), joints=joints[0], labels=[("stand", 0.9)])
    frame = np.full((h, w, 3), 120, np.uint8)
    renderer = NumpyMeshRenderer()
    mesh_only = FrameRenderer(smpl.faces, RenderOptions(render_style="mesh"), renderer=renderer)(frame, [person])
    labelled = FrameRenderer(smpl.faces, RenderOptions(render_style="mesh+labels"), renderer=renderer)(frame, [person])
    changed = np.abs(labelled.astype(int) - mesh_only.astype(int)).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200  # a whole label block is drawn, not a sliver at the edge
    # the text is black and white: both must appear in the changed region
    region = labelled[changed]
    assert (region.max(axis=1) < 40).sum() > 10 and (region.min(axis=1) > 215).sum() > 10


def test_top1_label_is_drawn_above_top2(smpl, bodies):
    vertices, joints = bodies
    person = RenderPerson(3, vertices[0], np.array([0.0, 0.3, 60.0]), joints=joints[0], labels=[("b", 0.4), ("a", 0.8)])
    draw = FrameRenderer(smpl.faces, RenderOptions(), renderer=NumpyMeshRenderer())
    camera = frame_camera(288, 398)
    from lart_demo.render.overlay import label_anchor

    _, end = label_anchor(project(vertices[0] + person.cam_t, camera), project(joints[0] + person.cam_t, camera))
    block = layout_label_block(
        "#3", ["80% : a", "40% : b"], track_color(3), end, (288, 398), TextStyle.for_frame(288, 398)
    )
    assert block.origin[1] + block.size[1] <= end[1] + 1  # the block sits above the head stroke
    img = draw(np.zeros((288, 398, 3), np.uint8), [person])
    assert img.shape == (288, 398, 3)


def test_side_by_side_doubles_the_width_and_keeps_the_original(smpl, bodies):
    vertices, _ = bodies
    frame = np.random.default_rng(0).integers(0, 255, (100, 150, 3), dtype=np.uint8)
    draw = FrameRenderer(smpl.faces, RenderOptions(render_style="side-by-side"), renderer=NumpyMeshRenderer())
    out = draw(frame, [RenderPerson(1, vertices[0], np.array([0.0, 0.0, 40.0]))])
    assert out.shape == (100, 300, 3)
    np.testing.assert_array_equal(out[:, :150], frame)
    assert (out[:, 150:] != frame).any()


def test_face_blur_changes_only_the_head(smpl, bodies):
    vertices, joints = bodies
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (288, 398, 3), dtype=np.uint8)
    cam_t = np.array([0.0, 0.0, 60.0])
    person = RenderPerson(1, vertices[0], cam_t, joints=joints[0])
    blurred = FrameRenderer(
        smpl.faces, RenderOptions(render_style="side-by-side", face_blur=True), renderer=NumpyMeshRenderer()
    )(frame, [person])[:, :398]
    camera = frame_camera(288, 398)
    head = project(((joints[0][25 + 13] + joints[0][1]) / 2 + cam_t)[None], camera)[0]  # skull top .. neck
    changed = np.abs(blurred.astype(int) - frame.astype(int)).sum(axis=2) > 30
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 20
    assert np.hypot(xs - head[0], ys - head[1]).max() < 0.25 * 398  # nothing far from the head changed
    assert np.hypot(xs.mean() - head[0], ys.mean() - head[1]) < 10


# ---------------------------------------------------------------------------------------------------- options


def test_options_from_settings_and_validation():
    settings = Settings(labels_per_person=2, min_label_prob=0.3, render_style="mesh", mesh_opacity=0.5, face_blur=True)
    options = RenderOptions.from_settings(settings, backend="cpu")
    assert (options.labels_per_person, options.min_label_prob, options.render_style) == (2, 0.3, "mesh")
    assert (options.mesh_opacity, options.face_blur, options.backend) == (0.5, True, "cpu")
    with pytest.raises(InputError, match="render style"):
        RenderOptions(render_style="wireframe")
    with pytest.raises(InputError, match="opacity"):
        RenderOptions(mesh_opacity=1.5)


def test_frame_must_be_rgb_uint8(smpl):
    draw = FrameRenderer(smpl.faces, RenderOptions(), renderer=NumpyMeshRenderer())
    with pytest.raises(InputError, match="RGB uint8"):
        draw(np.zeros((10, 10), np.uint8), [])


# ---------------------------------------------------------------------------------------------------- backends


def test_unknown_backend_is_an_error():
    with pytest.raises(ModelError, match="render backend"):
        create_mesh_renderer("vulkan")


def test_cpu_backend_needs_no_opengl():
    choice = create_mesh_renderer("cpu")
    assert choice.renderer.name == "cpu" and "numpy" in choice.notice


def test_fallback_when_opengl_is_unusable(monkeypatch):
    """When no GL platform passes its probe the numpy renderer is returned with a message saying why."""
    import lart_demo.render.backends as backends

    monkeypatch.setattr(backends, "loaded_gl_platform", lambda: None)
    monkeypatch.setattr(backends, "probe_gl_platform", lambda platform: (False, f"{platform} exploded"))
    monkeypatch.setattr(backends, "_FAILED_PLATFORMS", {})
    choice = backends.create_mesh_renderer("auto")
    assert choice.renderer.name == "cpu" and choice.fell_back
    assert "egl exploded" in choice.notice and "osmesa exploded" in choice.notice
    assert "libosmesa6" in choice.notice
    # a failed platform is not probed again in this process
    monkeypatch.setattr(backends, "probe_gl_platform", lambda platform: pytest.fail("probed twice"))
    assert "egl exploded" in backends.create_mesh_renderer("egl").notice


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["egl", "osmesa"])
def test_gl_platform_probe_in_a_child_process(platform):
    import ctypes.util

    library = {"egl": "EGL", "osmesa": "OSMesa"}[platform]
    if ctypes.util.find_library(library) is None:
        pytest.skip(f"lib{library} is not installed on this machine")
    ok, detail = probe_gl_platform(platform)
    assert ok, detail
    assert detail.startswith(platform)


def test_pose_people_runs_smpl_once_per_frame_in_order(smpl):
    from lart_demo.contracts import SmplPerson
    from lart_demo.render.video import pose_people

    rng = np.random.default_rng(4)
    specs = []
    for tid in (9, 3):
        go = cv2.Rodrigues(np.array([np.pi, 0, 0]) + rng.normal(0, 0.2, 3))[0]
        bp = np.stack([cv2.Rodrigues(rng.normal(0, 0.3, 3))[0] for _ in range(23)])
        specs.append(SmplPerson(tid, go, bp, rng.normal(0, 1, 10), np.array([0.1 * tid, 0.0, 50.0]), tid == 3))
    people = pose_people(smpl, specs)
    assert [p.track_id for p in people] == [9, 3] and [p.is_ghost for p in people] == [False, True]
    for spec, person in zip(specs, people, strict=True):
        import torch

        with torch.no_grad():
            one = smpl(
                torch.tensor(spec.global_orient[None, None], dtype=torch.float32),
                torch.tensor(spec.body_pose[None], dtype=torch.float32),
                torch.tensor(spec.betas[None], dtype=torch.float32),
            )
        np.testing.assert_allclose(person.vertices, one.vertices[0].numpy(), atol=1e-5)
        assert person.joints.shape == (44, 3)
    assert pose_people(smpl, []) == []


def test_no_label_for_a_person_entirely_outside_the_frame(smpl, bodies):
    vertices, joints = bodies
    frame = np.full((288, 398, 3), 120, np.uint8)
    person = RenderPerson(5, vertices[0], np.array([3.0, 0.0, 60.0]), joints=joints[0], labels=[("stand", 0.9)])
    out = FrameRenderer(smpl.faces, RenderOptions(), renderer=NumpyMeshRenderer())(frame, [person])
    np.testing.assert_array_equal(out, frame)


def test_gl_renderer_works_from_successive_threads(smpl, bodies):
    """The app renders each run on a new worker thread: the shared GL context must follow (EGL_BAD_ACCESS before)."""
    import threading

    renderer = gl_renderer()
    vertices, _ = bodies
    camera = frame_camera(288, 398)
    placed = vertices[0] + np.array([0.0, 0.0, 90.0])
    results: list[object] = []

    def draw() -> None:
        try:
            results.append(int(_silhouette(renderer, placed, smpl.faces, camera).sum()))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)

    for _ in range(3):
        worker = threading.Thread(target=draw)
        worker.start()
        worker.join()
    assert all(isinstance(r, int) and r > 0 for r in results), results
    assert len(set(results)) == 1
