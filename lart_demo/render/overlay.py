"""2D overlays on a rendered frame: action labels above heads, track chips, face blur.

Label placement follows the LART demo (phalp_spec.md §7, lart_spec.md §7): a short stroke rises from
the head along the hip->head direction and the labels stack above its end, the top-1 action highest.
Unlike the original (fixed 0.7 font scale at 1280 px, boxes allowed to leave the picture) the font
scales with the frame, text has an outline so it reads on any background, every label block lies
fully inside the frame, and no two blocks overlap: in a crowd they move to the nearest free spot,
and lose their least probable lines when there is none (`place_label_blocks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lart_demo.render.camera import FrameCamera, project

# indices in the HMR2/PHALP 44-joint set (25 OpenPose + 19 extra regressed joints, hmr2_spec.md §5)
JOINT_NOSE, JOINT_NECK, JOINT_MID_HIP = 0, 1, 8
JOINT_HEAD_TOP = 25 + 13  # LSP head top
JOINT_HEAD = 25 + 18  # H36M head: the label anchor of the LART demo
MIN_JOINTS = 44

_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class TextStyle:
    scale: float
    thickness: int
    outline: int
    pad: int
    line_gap: int

    @staticmethod
    def for_frame(height: int, width: int) -> TextStyle:
        """Font metrics that stay readable from phone clips to 4K: about 2.2% of the short side per line."""
        short = min(height, width)
        scale = max(0.4, short / 720.0 * 0.75)
        thickness = max(1, round(scale * 1.6))
        return TextStyle(
            scale=scale,
            thickness=thickness,
            outline=thickness + max(2, round(scale * 2)),
            pad=max(2, round(4 * scale)),
            line_gap=max(1, round(3 * scale)),
        )


def pick_labels(labels: Sequence[tuple[str, float]], how_many: int, min_prob: float) -> list[tuple[str, float]]:
    """The `how_many` most probable labels at or above `min_prob`, most probable first."""
    kept = [(name, float(p)) for name, p in labels if float(p) >= min_prob]
    kept.sort(key=lambda item: -item[1])
    return kept[: max(0, how_many)]


def label_anchor(points_2d: np.ndarray, joints_2d: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(stroke start, stroke end) above the head in pixels.

    With the 44 SMPL joints: the LART demo's rule, from head + 0.1 v to head + 0.2 v, v = head - mid-hip.
    Without joints: straight up from the mesh's highest projected vertex by 10% of its 2D height.
    """
    if joints_2d is not None and len(joints_2d) >= MIN_JOINTS:
        head, hip = joints_2d[JOINT_HEAD], joints_2d[JOINT_MID_HIP]
        v = head - hip
        return head + 0.1 * v, head + 0.2 * v
    top = points_2d[np.argmin(points_2d[:, 1])]
    height = float(np.ptp(points_2d[:, 1]))
    return top, top - np.array([0.0, 0.1 * height])


@dataclass
class LabelBlock:
    """A person's label block, laid out but not yet drawn."""

    lines: list[str]
    color: tuple[int, int, int]
    origin: tuple[int, int]  # top-left corner, pixels
    size: tuple[int, int]  # (width, height)
    line_height: int
    chip: int  # side of the colour chip in front of the first line
    anchor: tuple[float, float] = (0.0, 0.0)  # where the block wants its bottom centre (the stroke's end)


def layout_label_block(
    header: str,
    labels: Sequence[str],
    color: tuple[int, int, int],
    anchor: np.ndarray,
    frame_hw: tuple[int, int],
    style: TextStyle,
) -> LabelBlock:
    """Lines stacked upwards from `anchor` (header on top, then the top-1 label), clamped into the frame."""
    lines = [header, *labels]
    sizes = [cv2.getTextSize(text, _FONT, style.scale, style.thickness) for text in lines]
    text_h = max(size[0][1] + size[1] for size in sizes)
    line_h = text_h + 2 * style.pad
    chip = text_h
    width = max(size[0][0] for size in sizes) + 3 * style.pad + chip + style.outline  # outline overhangs
    height = len(lines) * line_h + (len(lines) - 1) * style.line_gap
    h, w = frame_hw
    x = int(round(anchor[0] - width / 2))
    y = int(round(anchor[1] - height))
    # keep the whole block visible, also for people at (or partly beyond) the border
    x = min(max(x, 0), max(w - width, 0))
    y = min(max(y, 0), max(h - height, 0))
    return LabelBlock(lines, color, (x, y), (width, height), line_h, chip, (float(anchor[0]), float(anchor[1])))


def draw_label_block(image: np.ndarray, block: LabelBlock, style: TextStyle, box_opacity: float = 0.6) -> None:
    """Draw in place: translucent track-colour boxes, a colour chip, outlined text (RGB image)."""
    x, y = block.origin
    h, w = image.shape[:2]
    for i, text in enumerate(block.lines):
        top = y + i * (block.line_height + style.line_gap)
        (tw, th), base = cv2.getTextSize(text, _FONT, style.scale, style.thickness)
        box_w = tw + 3 * style.pad + block.chip + style.outline
        x0, y0 = max(x, 0), max(top, 0)
        x1, y1 = min(x + box_w, w), min(top + block.line_height, h)
        if x1 <= x0 or y1 <= y0:
            continue
        region = image[y0:y1, x0:x1].astype(np.float32)
        tint = np.array(block.color, np.float32)
        image[y0:y1, x0:x1] = (box_opacity * tint + (1 - box_opacity) * region).round().astype(np.uint8)
        chip_x, chip_y = x + style.pad, top + (block.line_height - block.chip) // 2
        if i == 0:  # the colour chip: the exact track colour, framed so it shows on the tinted box
            cv2.rectangle(image, (chip_x, chip_y), (chip_x + block.chip, chip_y + block.chip), block.color, -1)
            cv2.rectangle(image, (chip_x, chip_y), (chip_x + block.chip, chip_y + block.chip), (0, 0, 0), 1)
        draw_outlined_text(image, text, (x + 2 * style.pad + block.chip, top + style.pad + th), style)


def draw_outlined_text(image: np.ndarray, text: str, org: tuple[int, int], style: TextStyle) -> None:
    """Black anti-aliased text with a white halo, in place.

    The halo is the glyph mask dilated, not a thicker putText: OpenCV spaces glyphs by stroke
    thickness, so a thick white copy would drift away from the black text along the line.
    """
    (tw, th), base = cv2.getTextSize(text, _FONT, style.scale, style.thickness)
    halo = style.outline - style.thickness
    x0, y0 = org[0] - halo - 1, org[1] - th - halo - 1
    mask = np.zeros((th + base + 2 * halo + 2, tw + 2 * halo + 2), np.uint8)
    cv2.putText(mask, text, (halo + 1, th + halo + 1), _FONT, style.scale, 255, style.thickness, cv2.LINE_AA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * halo + 1, 2 * halo + 1))
    outline = cv2.dilate(mask, kernel)
    h, w = image.shape[:2]
    ya, xa = max(y0, 0), max(x0, 0)
    yb, xb = min(y0 + mask.shape[0], h), min(x0 + mask.shape[1], w)
    if yb <= ya or xb <= xa:
        return
    crop = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
    text_a = mask[crop].astype(np.float32)[..., None] / 255.0
    halo_a = outline[crop].astype(np.float32)[..., None] / 255.0
    region = image[ya:yb, xa:xb].astype(np.float32)
    region = region * (1.0 - halo_a) + 255.0 * halo_a
    region = region * (1.0 - text_a)
    image[ya:yb, xa:xb] = region.round().astype(np.uint8)


def draw_stroke(image: np.ndarray, start: np.ndarray, end: np.ndarray, color: tuple[int, int, int], width: int) -> None:
    """The short line from the head to the label block (clipped by OpenCV when outside)."""
    p0 = tuple(int(round(c)) for c in start)
    p1 = tuple(int(round(c)) for c in end)
    cv2.line(image, p0, p1, color, max(1, width), cv2.LINE_AA)


def head_circle(joints_cam: np.ndarray, camera: FrameCamera) -> tuple[np.ndarray, float] | None:
    """The head region (centre px, radius px) from camera-frame SMPL joints (44-joint set), or None.

    The head spans neck -> skull top; its centre sits a little above the middle of that segment and a
    disc of 0.6 x that length covers face, ears and hair. (Nose/eye/ear joints are single mesh vertices
    and are not needed for a privacy blur.)
    """
    if len(joints_cam) < MIN_JOINTS:
        return None
    neck, top = joints_cam[JOINT_NECK], joints_cam[JOINT_HEAD_TOP]
    centre = neck + 0.55 * (top - neck)
    if centre[2] <= 1e-6:
        return None
    radius_3d = 0.6 * float(np.linalg.norm(top - neck))
    radius_px = camera.focal * radius_3d / float(centre[2])
    return project(centre[None], camera)[0], radius_px


def blur_circles(image: np.ndarray, circles: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """A copy of `image` with each (centre, radius) disc strongly blurred (feathered edge)."""
    if not circles:
        return image
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for centre, radius in circles:
        r = max(2, int(round(radius)))
        cv2.circle(mask, (int(round(centre[0])), int(round(centre[1]))), r, 255, -1, cv2.LINE_AA)
    if not mask.any():
        return image
    largest = max(radius for _, radius in circles)
    k = int(max(9, round(largest * 0.8))) | 1  # kernel grows with the face so features are unreadable
    k = min(k, 2 * (max(h, w) // 2) - 1)
    blurred = cv2.GaussianBlur(image, (k, k), 0)
    feather = cv2.GaussianBlur(mask, (0, 0), max(1.0, largest * 0.08)).astype(np.float32)[..., None] / 255.0
    out = image.astype(np.float32) * (1 - feather) + blurred.astype(np.float32) * feather
    return out.round().astype(np.uint8)


def _overlaps(a: LabelBlock, b: LabelBlock, gap: int) -> bool:
    (ax, ay), (aw, ah) = a.origin, a.size
    (bx, by), (bw, bh) = b.origin, b.size
    return ax < bx + bw + gap and bx < ax + aw + gap and ay < by + bh + gap and by < ay + ah + gap


def _free_spot(block: LabelBlock, placed: Sequence[LabelBlock], frame_hw: tuple[int, int], gap: int) -> bool:
    """Move `block` to the free spot nearest its wanted place; False (block unchanged) when there is none.

    Candidates are the wanted place and every position flush against a placed block's sides, crossed
    (x from one, y from another), clamped into the frame. Vertical moves cost less than sideways ones,
    so labels stay above their person where they can.
    """
    h, w = frame_hw
    (x0, y0), (bw, bh) = block.origin, block.size
    xs = {x0} | {p.origin[0] - bw - gap for p in placed} | {p.origin[0] + p.size[0] + gap for p in placed}
    ys = {y0} | {p.origin[1] - bh - gap for p in placed} | {p.origin[1] + p.size[1] + gap for p in placed}
    xs = {min(max(x, 0), max(w - bw, 0)) for x in xs}
    ys = {min(max(y, 0), max(h - bh, 0)) for y in ys}
    for x, y in sorted(((x, y) for x in xs for y in ys), key=lambda c: (4 * (c[0] - x0) ** 2 + (c[1] - y0) ** 2, c)):
        candidate = LabelBlock(block.lines, block.color, (x, y), block.size, block.line_height, block.chip)
        if not any(_overlaps(candidate, p, gap) for p in placed):
            block.origin = (x, y)
            return True
    return False


def place_label_blocks(
    blocks: Sequence[LabelBlock],
    frame_hw: tuple[int, int],
    style: TextStyle,
    gap: int = 2,
    keep_clear: Sequence[LabelBlock] = (),
) -> list[LabelBlock | None]:
    """Lay out label blocks so that no two overlap (nor any `keep_clear` box); one entry per block.

    Blocks are placed in the given order, each at the free spot nearest its wanted place. When a
    crowded frame has no room for a whole block, it loses lines from the bottom (the least probable
    labels first) down to the header; a block with no room at all is None (its person keeps the
    colour of their mesh). So labels never cover each other, whatever the scene.
    """
    placed: list[LabelBlock] = list(keep_clear)
    out: list[LabelBlock | None] = []
    for block in blocks:
        chosen = None
        for n_lines in range(len(block.lines), 0, -1):
            trial = block if n_lines == len(block.lines) else _shortened(block, n_lines, frame_hw, style)
            if _free_spot(trial, placed, frame_hw, gap):
                chosen = trial
                break
        if chosen is not None:
            placed.append(chosen)
        out.append(chosen)
    return out


def _shortened(block: LabelBlock, n_lines: int, frame_hw: tuple[int, int], style: TextStyle) -> LabelBlock:
    """The block with only its first `n_lines` lines, wanted at the same anchor."""
    anchor = np.array(block.anchor, np.float64)
    return layout_label_block(block.lines[0], block.lines[1:n_lines], block.color, anchor, frame_hw, style)


def mark_block(text: str, frame_hw: tuple[int, int], style: TextStyle) -> LabelBlock:
    """Where the run-wide mark (e.g. "random weights") goes: one line in the top-left corner (players
    draw their controls over the bottom of a video)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, style.scale, style.thickness)
    line_h = th + base + 2 * style.pad
    width = tw + 2 * style.pad + style.outline
    return LabelBlock([text], (200, 30, 30), (0, 0), (width, line_h), line_h, 0)


def draw_mark(image: np.ndarray, block: LabelBlock, style: TextStyle) -> None:
    """The mark: outlined text on an opaque red strip, so it shows on any frame."""
    x, y = block.origin
    w, h = block.size
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), block.color, -1)
    (_, th), _ = cv2.getTextSize(block.lines[0], _FONT, style.scale, style.thickness)
    draw_outlined_text(image, block.lines[0], (x + style.pad + style.outline // 2, y + style.pad + th), style)


def nearest_point(block: LabelBlock, point: np.ndarray) -> np.ndarray:
    """The point of the block's rectangle closest to `point` (where the stroke from the head ends)."""
    (x, y), (w, h) = block.origin, block.size
    return np.array([min(max(point[0], x), x + w), min(max(point[1], y), y + h)], np.float64)
