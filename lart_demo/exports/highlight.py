"""Highlight clips: one event's segment of render.mp4, re-encoded as H.264 with the project's video writer.

The clip holds the rendered frames whose time lies in [start_s, end_s) (an event's end_s is the end of its
last frame), at the run's fps, without audio. Clips are written once into run_dir/highlights/ and reused.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from lart_demo.errors import InputError, VideoError
from lart_demo.exports.events import Event
from lart_demo.video.io import VideoWriter

HIGHLIGHT_FOLDER = "highlights"


def highlight_name(event: Event) -> str:
    return f"person_{event.track_id}_ava{event.ava_id}_{event.start_frame:06d}-{event.end_frame:06d}.mp4"


def cut_segment(video: Path, start_s: float, end_s: float, out_path: Path, fps: float) -> Path:
    """Frames of `video` with start_s <= time < end_s, encoded (H.264, yuv420p, faststart) at `fps`."""
    import av  # decoding is only needed here; importing PyAV at module level would slow every CLI start

    if not end_s > start_s >= 0:
        raise InputError(f"A highlight needs 0 <= start < end (got {start_s:.3f}..{end_s:.3f} s).")
    video = Path(video)
    if not video.is_file():
        raise InputError(f"There is no rendered video ({video.name}) to cut a highlight from.")
    half_frame = 0.5 / fps  # decoded times are frame starts; compare frame centres to be robust to rounding
    try:
        # the writer opens on the first kept frame (its size) and closes, or cleans up, with the stack
        with av.open(str(video)) as container, contextlib.ExitStack() as stack:
            stream = container.streams.video[0]
            container.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
            writer: VideoWriter | None = None
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else float(frame.time or 0.0)
                if t + half_frame < start_s:
                    continue
                if t + half_frame >= end_s:
                    break
                image = frame.to_ndarray(format="rgb24")
                if writer is None:
                    writer = stack.enter_context(VideoWriter(out_path, fps, (image.shape[1], image.shape[0])))
                writer.write(image)
            if writer is None:
                raise InputError(f"The video has no frames between {start_s:.2f} s and {end_s:.2f} s.")
    except av.FFmpegError as exc:
        raise VideoError(f"Could not read {video.name} to cut a highlight: {exc}.") from exc
    return Path(out_path)


def write_highlight(run_dir: Path, event: Event, fps: float, video_name: str = "render.mp4") -> Path:
    """run_dir/highlights/<event>.mp4: the event's segment of the rendered video."""
    path = Path(run_dir) / HIGHLIGHT_FOLDER / highlight_name(event)
    if path.is_file():
        return path
    return cut_segment(Path(run_dir) / video_name, event.start_s, event.end_s, path, fps)
