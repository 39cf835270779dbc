"""PHALP's person crop as the LART demo makes it (phalp_spec.md §3.3, hmr2_spec.md §6.B).

Square of side max(w, h) around the box centre (no aspect-ratio padding, no context margin),
warped to 256x256 with OpenCV bilinear interpolation and a black border; RGB channels normalised
with the ImageNet statistics (0-255 scale), a 4th channel with the warped 0/255 mask (not
normalised). The affine matrix is built the way upstream builds it (from three float32 point pairs
through cv2.getAffineTransform), so the warp is bit-identical to the original.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 256
RGB_MEAN = np.array([123.675, 116.280, 103.530], dtype=np.float64)
RGB_STD = np.array([58.395, 57.120, 57.375], dtype=np.float64)


def box_center_scale(box_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center (2,), scale = (w, h) (2,)) of an xyxy box, in float64 as upstream computes them."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy[:4])
    return np.array([(x2 + x1) / 2, (y2 + y1) / 2]), np.array([x2 - x1, y2 - y1])


def crop_affine(center: np.ndarray, side: float, out_size: int = CROP_SIZE) -> np.ndarray:
    """2x3 matrix mapping the square (centre, side) onto an out_size square: u = (x - cx) * out/side + out/2."""
    # three corresponding points (centre, half-way down, half-way right), float32 like upstream
    src_center = np.asarray(center, dtype=np.float64)
    half = np.float32(side * 0.5)
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = src_center
    src[1] = src_center + np.array([0.0, half], dtype=np.float32)
    src[2] = src_center + np.array([half, 0.0], dtype=np.float32)
    dst_half = np.float32(out_size * 0.5)
    dst = np.array([[dst_half, dst_half], [dst_half, 2 * dst_half], [2 * dst_half, dst_half]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def warp_square(image: np.ndarray, center: np.ndarray, side: float, out_size: int = CROP_SIZE) -> np.ndarray:
    """Bilinear warp of a uint8 (H, W[, C]) image; pixels outside the image become 0."""
    matrix = crop_affine(center, side, out_size)
    return cv2.warpAffine(image, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR)


def person_crop(image_rgb: np.ndarray, box_xyxy: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(4, 256, 256) float32: normalised R, G, B and the warped 0..255 mask (zeros without a mask)."""
    center, scale = box_center_scale(box_xyxy)
    side = float(np.max(scale))
    # warping is per channel, so warping RGB equals upstream's warp of BGR followed by a channel flip
    rgb = warp_square(image_rgb, center, side).astype(np.float32)
    crop = np.empty((4, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    for c in range(3):
        crop[c] = (rgb[:, :, c] - RGB_MEAN[c]) / RGB_STD[c]
    if mask is None:
        crop[3] = 0.0
    else:
        crop[3] = warp_square(mask.astype(np.uint8) * np.uint8(255), center, side).astype(np.float32)
    return crop


def person_crops(image_rgb: np.ndarray, boxes_xyxy: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """(N, 4, 256, 256) float32 crops of every box of one frame."""
    crops = np.empty((len(boxes_xyxy), 4, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    for i, box in enumerate(boxes_xyxy):
        crops[i] = person_crop(image_rgb, box, None if masks is None else masks[i])
    return crops


def padded_square(image_hw: tuple[int, int]) -> tuple[int, int, int]:
    """(side S = max(H, W), left, top) of the zero-padded square frame PHALP's 256-space is based on."""
    h, w = image_hw
    side = max(h, w)
    return side, (side - w) // 2, (side - h) // 2
