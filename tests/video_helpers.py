"""Reading single frames in tests (the product only streams)."""

from __future__ import annotations

import numpy as np

from lart_demo.contracts import Clip
from lart_demo.video.io import iter_frames


def read_frame(clip: Clip, index: int) -> np.ndarray:
    """Clip frame `index` as RGB uint8 (H, W, 3), through the streaming reader (it seeks to the frame)."""
    ((_, frame),) = iter_frames(clip, index, index + 1)
    return frame
