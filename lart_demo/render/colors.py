"""Stable per-track colours: the 'slahmr' palette the LART demo renders with (phalp_spec.md §7).

Track id k uses palette row k (ids start at 1, so row 0 is only used by id 0). The original code gives
ids beyond the palette unseeded random colours; we derive them deterministically from the id instead,
so a track keeps its colour across runs and between the video, the thumbnails and the UI chips.
"""

from __future__ import annotations

import colorsys

import numpy as np

# The 97 RGB rows of the 'slahmr' palette, as 6-digit hex, in palette order.
_SLAHMR_HEX = (
    "f15bb5 00bbf9 fee440 00f5d4 de9e36 5da9e9 9b5de5 18f2b2 fc74ba 8ae1fc b2abf2 18e762 e85d75 cffae7 fdd0f2 "
    "6d9dc5 a6bddb fd92cf a7c957 7544b1 ffe532 fbcaef 3a86ff ff006e fb5607 bc33d1 7ae582 003049 d62828 e5b3b3 "
    "00bbf9 ffbe0b ccd5ae 00f5d4 ff99c8 90fb92 bdd393 e60056 005f39 00ae7e ff74a3 bdc6ff 5adbff 9e008e ff937e "
    "a42400 001544 91d0cb 5fad4e 6b6882 007db5 6a826c fcf6bd d0f4de a9def9 e4c1f9 7accae c28c9f 008f9c eb0000 "
    "ff029d 683d3b 968ae8 98ff52 a75740 01fffe ffeee8 fe8900 01d0ff bb8800 a5ffd2 ffa6fe 774d00 7a4782 263400 "
    "004754 43002c b500ff ffb167 ffdb66 7e2dd2 e56ffe deff74 00ff78 009bff 006401 0076ff 85a900 00b917 788231 "
    "00ffc6 ff6e41 e85ebe 010067 95003a 620e00 000000"
).split()


def _palette() -> np.ndarray:
    rows = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _SLAHMR_HEX], dtype=np.uint8)
    # the original replaces every 0 channel by 1 (so a colour is never mistaken for the empty background)
    rows[rows == 0] = 1
    return rows


SLAHMR_PALETTE: np.ndarray = _palette()  # (97, 3) uint8 RGB


def track_color(track_id: int) -> tuple[int, int, int]:
    """The RGB colour of a track: palette row `track_id`, or a deterministic hue beyond the palette."""
    if track_id < 0:
        raise ValueError(f"track ids are >= 0, got {track_id}")
    if track_id < len(SLAHMR_PALETTE):
        r, g, b = SLAHMR_PALETTE[track_id]
        return int(r), int(g), int(b)
    # golden-ratio hue steps spread consecutive ids far apart; saturated and bright enough to read
    hue = (track_id * 0.6180339887) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def ghost_color(color: tuple[int, int, int], lighten: float = 0.55) -> tuple[int, int, int]:
    """A lighter version of a track colour for frames where the person was in-filled, not detected."""
    r, g, b = (round(c + (255 - c) * lighten) for c in color)
    return r, g, b
