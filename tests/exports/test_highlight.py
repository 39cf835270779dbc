"""Highlight clips: exactly an event's frames of render.mp4, as H.264."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from lart_demo.errors import InputError
from lart_demo.exports.events import Event
from lart_demo.exports.highlight import write_highlight
from lart_demo.video.io import VideoWriter

FPS = 20.0


def _numbered_video(path: Path, n: int = 40) -> Path:
    """Frame i is a flat grey of level 6*i, so a decoded frame tells which source frame it was."""
    with VideoWriter(path, FPS, (64, 48)) as writer:
        for i in range(n):
            writer.write(np.full((48, 64, 3), 6 * i, np.uint8))
    return path


def _event(start: int, end: int) -> Event:
    return Event(2, 10, "run/jog", "run", start / FPS, (end + 1) / FPS, start, end, 0.9, start, 0.7)


def test_highlight_holds_the_event_frames_as_h264(tmp_path: Path) -> None:
    _numbered_video(tmp_path / "render.mp4")
    clip = write_highlight(tmp_path, _event(10, 24), FPS)
    assert clip.parent.name == "highlights" and clip.suffix == ".mp4"
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        levels = [float(f.to_ndarray(format="rgb24").mean()) for f in container.decode(stream)]
    assert len(levels) == 15
    assert levels[0] == pytest.approx(60, abs=3) and levels[-1] == pytest.approx(144, abs=3)
    assert write_highlight(tmp_path, _event(10, 24), FPS) == clip  # made once


def test_a_segment_outside_the_video_is_a_clear_error(tmp_path: Path) -> None:
    _numbered_video(tmp_path / "render.mp4", n=10)
    with pytest.raises(InputError, match="no frames"):
        write_highlight(tmp_path, _event(30, 35), FPS)
    assert not list((tmp_path / "highlights").glob("*.mp4"))
    with pytest.raises(InputError, match="no rendered video"):
        write_highlight(tmp_path / "elsewhere", _event(1, 2), FPS)
