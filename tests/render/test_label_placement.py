"""Label blocks never overlap: measured on crowded synthetic scenes, through the real frame renderer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from render_helpers import posed_bodies, synthetic_smpl

from lart_demo.render.backends import NumpyMeshRenderer
from lart_demo.render.camera import frame_camera
from lart_demo.render.overlay import LabelBlock, TextStyle, layout_label_block, mark_block, place_label_blocks
from lart_demo.render.video import FrameRenderer, RenderOptions, RenderPerson

LINES = ["87% : stand", "40% : talk to (e.g., self, a person, a group)", "20% : watch (a person)"]


def overlapping_pairs(blocks: list[LabelBlock]) -> list[tuple[int, int]]:
    """Index pairs of blocks whose rectangles share any pixel."""
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(blocks), 2):
        (ax, ay), (aw, ah) = a.origin, a.size
        (bx, by), (bw, bh) = b.origin, b.size
        if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
            pairs.append((i, j))
    return pairs


def inside(block: LabelBlock, height: int, width: int) -> bool:
    (x, y), (w, h) = block.origin, block.size
    return 0 <= x and 0 <= y and x + w <= width and y + h <= height


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return synthetic_smpl(smpl_dir)


def crowd(smpl, rows: int, cols: int) -> list[RenderPerson]:
    """rows x cols people shoulder to shoulder, each with three labels: far more text than fits."""
    vertices, joints = posed_bodies(smpl, rows * cols, seed=3)
    people = []
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        cam_t = np.array([(c - (cols - 1) / 2) * 0.35, (r - (rows - 1) / 2) * 0.5, 40.0 + 3 * r])
        labels = [(name.split(" : ")[1], 0.9 - 0.2 * i) for i, name in enumerate(LINES)]
        people.append(RenderPerson(k + 1, vertices[k], cam_t, joints=joints[k], labels=labels))
    return people


@pytest.mark.parametrize(("height", "width", "rows", "cols"), [(288, 398, 2, 6), (720, 1280, 3, 8), (480, 270, 3, 3)])
def test_crowded_scene_has_zero_overlapping_labels(smpl, height, width, rows, cols):
    people = crowd(smpl, rows, cols)
    renderer = FrameRenderer(smpl.faces, RenderOptions(labels_per_person=3), renderer=NumpyMeshRenderer())
    image = np.full((height, width, 3), 90, np.uint8)
    camera = frame_camera(height, width)
    placed = [(p, p.vertices + p.cam_t.reshape(1, 3)) for p in people]
    joints = [p.joints + p.cam_t.reshape(1, 3) for p in people]
    drawn = renderer._draw_labels(image, placed, joints, camera)
    assert overlapping_pairs(drawn) == []
    assert all(inside(b, height, width) for b in drawn)
    # the crowd is really crowded: the wanted places collide, yet most people keep a label
    style = TextStyle.for_frame(height, width)
    wanted = [
        b
        for b in drawn
        if b.origin
        != layout_label_block(b.lines[0], b.lines[1:], b.color, np.array(b.anchor), (height, width), style).origin
    ]
    assert wanted, "no block had to move: the scene is not crowded enough to test anything"
    assert len(drawn) >= len(people) // 2


@pytest.mark.slow
def test_random_scenes_never_overlap_and_stay_in_the_frame():
    rng = np.random.default_rng(0)
    for _ in range(150):
        height, width = int(rng.integers(120, 900)), int(rng.integers(160, 1600))
        style = TextStyle.for_frame(height, width)
        n = int(rng.integers(1, 25))
        anchors = rng.uniform([0, 0], [width, height], size=(n, 2)) * rng.uniform(0.2, 1.0)  # often bunched up
        blocks = [
            layout_label_block(f"#{i}", LINES[: int(rng.integers(0, 4))], (200, 100, 50), a, (height, width), style)
            for i, a in enumerate(anchors)
        ]
        mark = mark_block("RANDOM WEIGHTS", (height, width), style)
        placed = place_label_blocks(blocks, (height, width), style, gap=style.line_gap, keep_clear=[mark])
        drawn = [b for b in placed if b is not None]
        assert overlapping_pairs([mark, *drawn]) == []
        assert all(inside(b, height, width) for b in drawn if b.size[0] <= width and b.size[1] <= height)
        assert all(b is None or b.lines[0] == f"#{i}" for i, b in enumerate(placed))  # the header always stays


def test_a_block_with_room_stays_where_it_wants_to_be():
    style = TextStyle.for_frame(288, 398)
    a = layout_label_block("#1", LINES[:1], (1, 2, 3), np.array([80.0, 150.0]), (288, 398), style)
    b = layout_label_block("#2", LINES[:1], (1, 2, 3), np.array([320.0, 150.0]), (288, 398), style)
    origins = (a.origin, b.origin)
    placed = place_label_blocks([a, b], (288, 398), style)
    assert (placed[0].origin, placed[1].origin) == origins


def test_no_room_drops_the_least_probable_lines_first():
    style = TextStyle.for_frame(120, 160)  # a thumbnail-sized frame: three full blocks cannot all fit
    blocks = [
        layout_label_block(f"#{i}", LINES, (9, 9, 9), np.array([80.0, 60.0]), (120, 160), style) for i in range(3)
    ]
    placed = place_label_blocks(blocks, (120, 160), style)
    kept = [b for b in placed if b is not None]
    assert overlapping_pairs(kept) == []
    assert placed[0] is not None and placed[0].lines == ["#0", *LINES]  # the first person keeps everything
    assert all(b.lines == ["#" + b.lines[0][1:], *LINES[: len(b.lines) - 1]] for b in kept)


def test_random_weights_mark_is_on_every_frame_and_labels_keep_clear(smpl):
    vertices, joints = posed_bodies(smpl, 1, seed=0)
    person = RenderPerson(2, vertices[0], np.array([-0.35, 0.0, 20.0]), joints=joints[0], labels=[("stand", 0.9)])
    options = RenderOptions(mark="RANDOM WEIGHTS: predictions are meaningless")
    frame = np.full((288, 398, 3), 128, np.uint8)
    out = FrameRenderer(smpl.faces, options, renderer=NumpyMeshRenderer())(frame, [person])
    plain = FrameRenderer(smpl.faces, RenderOptions(), renderer=NumpyMeshRenderer())(frame, [])
    block = mark_block(options.mark, (288, 398), TextStyle.for_frame(288, 398))
    (x, y), (w, h) = block.origin, block.size
    strip = out[y : y + h, x : x + w].reshape(-1, 3)
    red = (strip[:, 0] > 150) & (strip[:, 1] < 80) & (strip[:, 2] < 80)
    assert red.mean() > 0.4  # the red strip is there, text on it
    assert (plain[y : y + h, x : x + w] == 128).all()  # and only when asked for
