"""Probe, stream-decode and encode videos.

Decoding uses PyAV (the `av` wheel bundles FFmpeg): it gives every packet's timestamp (true fps and
variable frame rate), the display-matrix rotation of phone clips, the codec and audio streams, and
typed errors we can turn into user messages, all in-process and one frame at a time. OpenCV hides
timestamps behind float properties and guesses rotation; torchvision.io no longer decodes.

Encoding pipes raw RGB into the ffmpeg binary shipped by imageio-ffmpeg (libx264, yuv420p,
+faststart): the only H.264 encoder guaranteed by our dependencies, and the format browsers play.

Frames are always RGB uint8 (H, W, 3), upright, at the clip's size and constant processing fps.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from lart_demo.config import Settings
from lart_demo.contracts import Clip
from lart_demo.errors import InputError, VideoError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")
MIN_SHORT_SIDE = 64  # people in anything smaller are too few pixels for the detector and HMR2.0
MIN_FPS = 1.0
MAX_FPS = 300.0  # phones film slow motion at 240 fps; above this the timestamps are broken, not the camera
SUPPORTED_HINT = "Please upload an MP4 (H.264) or another common video file (mov, m4v, webm, avi, mkv)."


# --------------------------------------------------------------------------------------------- probe


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. Sizes are as displayed: rotation and pixel aspect ratio applied."""

    path: Path
    container: str
    codec: str
    pixel_format: str | None
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise turned on decoded frames to make them upright: 0/90/180/270
    fps: float  # true average frame rate from the packet timestamps
    variable_frame_rate: bool
    duration_s: float
    n_frames: int
    has_audio: bool
    audio_codec: str | None
    file_size: int
    # presentation timestamps of every frame (stream time base), sorted, and the same in seconds from frame 0
    frame_pts: np.ndarray = field(repr=False, compare=False)
    frame_times: np.ndarray = field(repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as displayed."""
        return self.width, self.height


def fmt_number(x: float, digits: int = 1) -> str:
    """12.0 -> '12', 7.125 -> '7.1' (digits=1), 1e308 -> '1e+308': numbers for sentences users read."""
    x = float(x)
    if not math.isfinite(x):
        return "not a number" if math.isnan(x) else ("infinity" if x > 0 else "-infinity")
    if abs(x) >= 1e6 or 0 < abs(x) < 10**-digits:  # huge or tiny: 3 significant digits, not 300 of them
        return f"{x:.3g}"
    text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt_fps(fps: float) -> str:
    return fmt_number(fps, 3)


def _check_file(path: Path) -> int:
    if not path.exists():
        raise VideoError(f"The video file '{path.name}' does not exist. Please choose the file again.")
    if path.is_dir():
        raise VideoError(f"'{path.name}' is a folder, not a video file. Choose a video file (or a folder of frames).")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"The file '{path.name}' is empty (0 bytes). Please upload the video again.")
    return size


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _unreadable_message(path: Path, exc: Exception) -> str:
    """Explain why FFmpeg could not open the file, as specifically as the first bytes allow."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if _looks_like_text(head[:256]):
        return f"'{path.name}' is a text file, not a video (renaming a file does not convert it). {SUPPORTED_HINT}"
    if head[4:8] == b"ftyp" or "moov atom not found" in str(exc):
        # an MP4/MOV header without its index: almost always an upload or copy that was cut off
        return (
            f"'{path.name}' is incomplete or damaged: the MP4 header is there but the video index is missing, "
            "which usually means the upload or copy was cut off. Please upload the complete file."
        )
    return f"'{path.name}' is not a video we can read (the file is damaged or not a video). {SUPPORTED_HINT}"


def _rotation_steps(rotation: float | None) -> int:
    """Number of 90-degree counter-clockwise turns (np.rot90 k) that make decoded frames upright."""
    if not rotation:
        return 0
    return int(round(float(rotation) / 90.0)) % 4


def _demux_timestamps(container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str):
    """(sorted pts, duration of the last shown frame in ticks or 0, packets incl. discarded) without decoding."""
    pts: list[int] = []
    durations: list[int] = []
    stored = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet PyAV yields at the end
                continue
            stored += 1
            if packet.is_discard:  # edit lists: samples stored but never shown
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                raise VideoError(
                    f"'{name}' has video frames without timestamps, so its timing cannot be trusted. "
                    "Please re-export it as MP4 (H.264)."
                )
            pts.append(int(stamp))
            durations.append(int(packet.duration or 0))
    except av.FFmpegError as exc:
        raise VideoError(
            f"'{name}' is damaged: reading stopped after {len(pts)} frames ({exc.strerror}). "
            "Please upload the complete file or re-export it."
        ) from exc
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    sorted_pts = np.asarray(pts, dtype=np.int64)[order]
    last_duration = int(np.asarray(durations, dtype=np.int64)[order][-1]) if pts else 0
    return sorted_pts, last_duration, stored


def _frame_rate(times: np.ndarray, last_duration_s: float, nominal: Fraction | None, tick_s: float):
    """(fps, variable?, duration_s) from presentation times in seconds measured from the first frame."""
    n = len(times)
    nominal_fps = float(nominal) if nominal else 0.0
    if n < 2 or times[-1] <= 0:
        fps = nominal_fps if n < 2 else math.inf
        frame_s = last_duration_s or (1.0 / fps if 0 < fps < math.inf else 0.0)
        return fps, False, float(times[-1] + frame_s) if n else 0.0
    mean_interval = float(times[-1]) / (n - 1)
    fps = 1.0 / mean_interval
    # keep the container's exact rational rate (e.g. 30000/1001) when it agrees with the timestamps
    if nominal_fps and abs(nominal_fps - fps) <= 0.002 * fps:
        fps = nominal_fps
    intervals = np.diff(times)
    tolerance = max(1.5 * tick_s, 0.1 * mean_interval)  # timestamp rounding is jitter, not VFR
    variable = bool(np.any(np.abs(intervals - mean_interval) > tolerance))
    frame_s = last_duration_s if 0 < last_duration_s < 4 * mean_interval else mean_interval
    return fps, variable, float(times[-1]) + frame_s


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's true properties (demuxes every packet, decodes one frame); VideoError if unusable."""
    path = Path(path)
    file_size = _check_file(path)
    name = path.name
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(_unreadable_message(path, exc)) from exc
    with container:
        if not container.streams.video:
            if container.streams.audio:
                raise VideoError(f"'{name}' contains only audio, no video track. Please upload a video file.")
            raise VideoError(f"'{name}' contains no video track. {SUPPORTED_HINT}")
        stream = container.streams.video[0]
        codec = stream.codec_context.name if stream.codec_context is not None else None
        if not codec:
            raise VideoError(f"'{name}' uses a video codec we cannot decode. {SUPPORTED_HINT}")
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None and audio.codec_context is not None else None

        pts, last_duration, stored = _demux_timestamps(container, stream, name)
        if len(pts) == 0:
            raise VideoError(f"'{name}' has a video track but no video frames in it. Please upload another video.")
        if len(pts) == 1:
            raise VideoError(f"'{name}' holds a single picture, not a moving video. Please upload a video.")
        declared = int(stream.frames or 0)
        if declared and stored < declared:
            raise VideoError(
                f"'{name}' is incomplete: its header announces {declared} frames but only {stored} are in the "
                "file, so the upload or copy was probably cut off. Please upload the complete file."
            )
        first = _decode_first_frame(container, stream, name, codec)
        time_base = stream.time_base or Fraction(1, 1)
        nominal = stream.average_rate or stream.guessed_rate
        container_name = container.format.name

    tick_s = float(time_base)
    times = (pts - pts[0]).astype(np.float64) * tick_s
    fps, variable, duration = _frame_rate(times, last_duration * tick_s, nominal, tick_s)
    if not (MIN_FPS <= fps <= MAX_FPS):
        shown = "an unknown" if not math.isfinite(fps) or fps <= 0 else f"{_fmt_fps(fps)} fps, an unusable"
        raise VideoError(
            f"'{name}' has {shown} frame rate (we accept {fmt_number(MIN_FPS)}–{fmt_number(MAX_FPS)} fps). "
            "Please re-export it at a normal frame rate such as 30 fps."
        )

    steps = _rotation_steps(first.rotation)
    sar = first.sample_aspect_ratio
    coded_w, coded_h = first.width, first.height
    shown_w = round(coded_w * float(sar)) if sar and float(sar) > 0 and sar != 1 else coded_w
    width, height = (coded_h, shown_w) if steps % 2 else (shown_w, coded_h)
    if min(width, height) < MIN_SHORT_SIDE:
        raise VideoError(
            f"'{name}' is only {width}×{height} pixels; people cannot be recognised that small. "
            f"Please use a video at least {MIN_SHORT_SIDE} pixels on its short side."
        )
    return VideoInfo(
        path=path,
        container=container_name,
        codec=codec,
        pixel_format=first.pixel_format,
        width=width,
        height=height,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=steps * 90,
        fps=fps,
        variable_frame_rate=variable,
        duration_s=duration,
        n_frames=len(pts),
        has_audio=audio is not None,
        audio_codec=audio_codec,
        file_size=file_size,
        frame_pts=pts,
        frame_times=times,
    )


@dataclass(frozen=True)
class _FirstFrame:
    width: int
    height: int
    rotation: float
    sample_aspect_ratio: Fraction | None
    pixel_format: str | None


def _decode_first_frame(container, stream, name: str, codec: str) -> _FirstFrame:
    """Decode one frame: proves the codec works and gives rotation and pixel aspect as decoded frames carry them."""
    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return _FirstFrame(
                width=frame.width,
                height=frame.height,
                rotation=float(frame.rotation or 0.0),
                sample_aspect_ratio=stream.sample_aspect_ratio,
                pixel_format=frame.format.name if frame.format is not None else None,
            )
    except av.error.DecoderNotFoundError as exc:
        raise VideoError(f"'{name}' uses the video codec '{codec}', which we cannot decode. {SUPPORTED_HINT}") from exc
    except av.FFmpegError as exc:
        raise VideoError(
            f"'{name}' is damaged: its first frame cannot be decoded ({exc.strerror}). "
            "Please upload the complete file or re-export it."
        ) from exc
    raise VideoError(f"'{name}' has a video track but no frame in it can be decoded. Please upload another video.")


def format_probe(info: VideoInfo) -> str:
    """The probe as the CLI prints it: one property per line."""
    rate = "variable, average" if info.variable_frame_rate else "constant"
    rotation = f"{info.rotation}° (applied: frames come out upright)" if info.rotation else "none"
    coded = (
        ""
        if (info.coded_width, info.coded_height) == info.size
        else f" (stored as {info.coded_width}×{info.coded_height})"
    )
    audio = (info.audio_codec or "yes") if info.has_audio else "none"
    lines = [
        f"file:       {info.path}",
        f"container:  {info.container}, {info.file_size / 1e6:.1f} MB",
        f"video:      {info.codec}, {info.pixel_format or 'unknown pixel format'}",
        f"size:       {info.width}×{info.height}{coded}",
        f"rotation:   {rotation}",
        f"frame rate: {_fmt_fps(info.fps)} fps ({rate})",
        f"frames:     {info.n_frames}",
        f"duration:   {info.duration_s:.3f} s",
        f"audio:      {audio}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- clip


@dataclass(frozen=True)
class ClipPlan:
    """Which source frame each clip frame shows, and at what size: shared by videos and image folders."""

    fps: float
    start_s: float
    source_indices: np.ndarray  # (n_frames,) int64 index into the source's frames (sorted by time)
    size: tuple[int, int]
    caps_applied: tuple[str, ...]
    notes: tuple[str, ...]


def duration_cap_sentence(start_s: float, window_s: float | None, cap_s: float) -> str:
    """'Trimmed to the first 60 s (of 95 s)': the one wording for the duration cap, wherever it is applied."""
    of = f" (of {fmt_number(window_s)} s)" if window_s is not None else ""
    if start_s <= 0:
        return f"Trimmed to the first {fmt_number(cap_s)} s{of}; the limit is {fmt_number(cap_s)} s."
    return (
        f"Trimmed to {fmt_number(cap_s)} s starting at {fmt_number(start_s)} s{of}; the limit is {fmt_number(cap_s)} s."
    )


def _scaled_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    w, h = size
    if not max_side or max(w, h) <= max_side:
        return w, h
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def nearest_indices(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target time, the index of the source frame whose timestamp is nearest (ties: the earlier)."""
    after = np.clip(np.searchsorted(times, targets, side="left"), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    take_before = np.abs(targets - times[before]) <= np.abs(times[after] - targets)
    return np.where(take_before, before, after).astype(np.int64)


def plan_clip(
    times: np.ndarray,
    source_fps: float,
    source_duration_s: float,
    source_size: tuple[int, int],
    settings: Settings,
    start_s: float | None = None,
    end_s: float | None = None,
) -> ClipPlan:
    """Apply the start/end window, duration cap, fps and size limits to a source; every change is a sentence."""
    caps: list[str] = []
    notes: list[str] = []
    total = source_duration_s
    start = 0.0 if start_s is None else float(start_s)
    if start < 0 or not math.isfinite(start):
        raise InputError(f"The start time must be 0 s or later (got {fmt_number(start)}).")
    if start >= total:
        raise InputError(
            f"The start time {fmt_number(start)} s is at or after the end of the video ({fmt_number(total, 2)} s)."
        )
    end = total
    if end_s is not None:
        if not math.isfinite(float(end_s)) or float(end_s) <= start:
            raise InputError(
                f"The end time ({fmt_number(float(end_s))} s) must be after the start time ({fmt_number(start)} s)."
            )
        if float(end_s) < total:
            end = float(end_s)
        else:
            notes.append(f"The end time {fmt_number(float(end_s))} s is past the video's end; used the whole rest.")
    if start > 0 or end < total:
        caps.append(f"Using {fmt_number(start)}–{fmt_number(end)} s of the {fmt_number(total)} s video, as you chose.")

    cap = settings.max_duration_s
    if cap and end - start > cap:
        caps.append(duration_cap_sentence(start, end - start, cap))
        end = start + cap

    fps = source_fps
    wanted = settings.processing_fps
    if wanted is not None:
        if wanted <= 0:
            raise InputError(f"The processing frame rate must be positive (got {wanted}).")
        if wanted < source_fps - 1e-6:
            fps = float(wanted)
            caps.append(f"Resampled from {_fmt_fps(source_fps)} fps to {_fmt_fps(fps)} fps (processing fps setting).")
        elif wanted > source_fps + 1e-6:
            notes.append(
                f"Kept the source's {_fmt_fps(source_fps)} fps: the processing fps {_fmt_fps(wanted)} is higher."
            )

    # frames at start + k/fps for every k inside [start, end); the tolerance absorbs float rounding
    n_frames = max(1, math.ceil((end - start) * fps - 1e-6))
    targets = start + np.arange(n_frames, dtype=np.float64) / fps
    indices = nearest_indices(times, targets)

    size = _scaled_size(source_size, settings.max_side)
    if size != source_size:
        caps.append(
            f"Downscaled from {source_size[0]}×{source_size[1]} to {size[0]}×{size[1]} "
            f"(longest side limited to {settings.max_side} px)."
        )
    return ClipPlan(fps, start, indices, size, tuple(caps), tuple(notes))


class _VideoFrameReader:
    """Streams planned frames from a video file with PyAV: seek once, decode forward, convert each frame."""

    def __init__(self, info: VideoInfo, plan: ClipPlan) -> None:
        self.info = info
        self.plan = plan.source_indices
        self.out_size = plan.size
        self.steps = info.rotation // 90
        # frames are scaled before the rotation, so a quarter turn swaps the target width and height
        w, h = plan.size
        self.decode_size = (h, w) if self.steps % 2 else (w, h)
        self.interpolation = "AREA" if plan.size[0] < info.width else "BICUBIC"

    def _index_of(self, pts: int) -> int:
        stamps = self.info.frame_pts
        i = int(np.searchsorted(stamps, pts))
        if i < len(stamps) and stamps[i] == pts:
            return i
        return max(0, i - 1)  # a timestamp between two packets belongs to the earlier frame

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.decode_size
        array = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation=self.interpolation)
        if self.steps:
            array = np.ascontiguousarray(np.rot90(array, self.steps))
        return array

    def iter_frames(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        plan = self.plan[start:stop]
        if len(plan) == 0:
            return
        emitted = yield from self._decode(start, plan, seek=int(plan[0]) > 0)
        if emitted is None:  # the seek overshot the first wanted frame: decode from the beginning instead
            emitted = yield from self._decode(start, plan, seek=False)
        if emitted < len(plan):
            raise VideoError(
                f"'{self.info.path.name}' ended after clip frame {start + emitted} although "
                f"{start + len(plan)} were expected; the file may be damaged. Please re-export or upload it again."
            )

    def _decode(self, start: int, plan: np.ndarray, seek: bool):
        name = self.info.path.name
        try:
            container = av.open(str(self.info.path))
        except av.FFmpegError as exc:
            raise VideoError(f"'{name}' can no longer be opened ({exc.strerror}). Please upload it again.") from exc
        j = 0
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                if seek:
                    container.seek(int(self.info.frame_pts[int(plan[0])]), stream=stream, backward=True)
                previous = -1
                for frame in container.decode(stream):
                    if frame.pts is None:
                        if seek and j == 0:
                            return None  # cannot tell where the seek landed
                        index = previous + 1
                    elif frame.pts < self.info.frame_pts[0]:
                        continue  # decoded lead-in that is never shown
                    else:
                        index = self._index_of(frame.pts)
                    previous = index
                    if index < plan[j]:
                        continue
                    if j == 0 and seek and index > plan[0]:
                        return None
                    array = None
                    while j < len(plan) and plan[j] <= index:
                        # a frame shown for several clip frames (lower source fps, VFR gaps) is yielded as copies
                        array = self._to_rgb(frame) if array is None else array.copy()
                        yield start + j, array
                        j += 1
                    if j == len(plan):
                        break
            except av.FFmpegError as exc:
                raise VideoError(
                    f"'{name}' could not be decoded at clip frame {start + j} ({exc.strerror}); the file is "
                    "probably damaged. Please re-export it or upload it again."
                ) from exc
        return j


def open_clip(
    path: str | os.PathLike[str],
    settings: Settings,
    start_s: float | None = None,
    end_s: float | None = None,
    source: str = "upload",
) -> Clip:
    """Probe a video and plan the clip the pipeline will see (trim, caps, fps, downscale; all reported)."""
    info = probe_video(path)
    plan = plan_clip(info.frame_times, info.fps, info.duration_s, info.size, settings, start_s, end_s)
    notes = list(plan.notes)
    if info.rotation:
        notes.append(
            f"Rotated {info.rotation}° as the file's rotation metadata asks (phone clip), so people are upright."
        )
    if info.variable_frame_rate:
        notes.append(
            f"The video has a variable frame rate (average {_fmt_fps(info.fps)} fps); frames were picked by "
            f"their timestamps at a constant {_fmt_fps(plan.fps)} fps so the timeline matches real time."
        )
    return Clip(
        path=info.path,
        source=source,
        fps=plan.fps,
        n_frames=len(plan.source_indices),
        size=plan.size,
        start_s=plan.start_s,
        source_fps=info.fps,
        source_size=info.size,
        source_duration_s=info.duration_s,
        has_audio=info.has_audio,
        caps_applied=plan.caps_applied,
        notes=tuple(notes),
        reader=_VideoFrameReader(info, plan),
        info=info,
    )


def iter_frames(clip: Clip, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Stream (index, RGB uint8 (H, W, 3)) for clip frames start <= index < stop; one frame in memory at a time."""
    stop = clip.n_frames if stop is None else min(stop, clip.n_frames)
    if start < 0 or start > stop:
        raise IndexError(f"frame range {start}:{stop} is outside the clip's {clip.n_frames} frames")
    return clip.reader.iter_frames(start, stop)


# -------------------------------------------------------------------------------------------- encode


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg (has libx264; no system ffmpeg needed)."""
    import imageio_ffmpeg  # imported here: resolving the binary touches the file system

    return imageio_ffmpeg.get_ffmpeg_exe()


def _fps_arg(fps: float) -> str:
    # 29.97 etc. come back as their exact NTSC fractions (30000/1001), which keeps audio in sync
    frac = Fraction(fps).limit_denominator(1001)
    return f"{frac.numerator}/{frac.denominator}"


class VideoWriter:
    """Write RGB frames to a browser-playable mp4: H.264, yuv420p, +faststart, constant `fps`.

    Use as a context manager. An odd width/height gets its last column/row repeated once (yuv420p
    needs even sizes; `output_size` is the size written). `audio_from` (a Clip or a file) adds its
    audio (for a Clip, the clip's time window).
    The file appears at `path` only when writing succeeded; on error nothing is left behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        size: tuple[int, int],
        audio_from: Clip | str | os.PathLike[str] | None = None,
        *,
        crf: int = 20,
        preset: str = "veryfast",
    ) -> None:
        if not (0 < fps <= MAX_FPS * 4):
            raise ValueError(f"fps must be positive and sane, got {fps}")
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be positive (w, h), got {size}")
        self.path = Path(path)
        self.fps = float(fps)
        self.size = (width, height)
        self.output_size = (width + width % 2, height + height % 2)
        self.audio_from = audio_from
        self.crf = crf
        self.preset = preset
        self.frames_written = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = None
        self._tmp: Path | None = None

    def _audio_args(self) -> list[str]:
        source = self.audio_from
        if source is None:
            return []
        if isinstance(source, Clip):
            if not source.has_audio or source.info is None:
                return []
            return ["-ss", f"{source.start_s:.6f}", "-t", f"{source.duration_s:.6f}", "-i", str(source.path)]
        return ["-i", str(Path(source))]

    def _command(self) -> list[str]:
        w, h = self.output_size
        audio_input = self._audio_args()
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", _fps_arg(self.fps), "-i", "pipe:0"]
        cmd += audio_input
        cmd += ["-map", "0:v:0"]
        if audio_input:
            cmd += ["-map", "1:a:0?", "-c:a", "aac", "-b:a", "128k"]
        # convert and tag as BT.709 so browsers do not have to guess the colour matrix of an untagged stream
        cmd += ["-vf", "scale=out_color_matrix=bt709:out_range=tv"]
        cmd += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
        cmd += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(self._tmp)]
        return cmd

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".partial.mp4", dir=self.path.parent)
        os.close(handle)
        self._tmp = Path(tmp)
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
        except OSError as exc:
            self._cleanup()
            raise VideoError(f"Could not start the video encoder (ffmpeg): {exc}.") from exc
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 (H, W, 3) frame of the writer's size."""
        if self._proc is None or self._proc.stdin is None:
            raise RuntimeError("VideoWriter.write called outside its `with` block")
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame of shape {(h, w, 3)}, got {frame.dtype} {frame.shape}")
        if self.output_size != self.size:  # yuv420p needs even sides: repeat the last row/column
            frame = np.pad(frame, ((0, self.output_size[1] - h), (0, self.output_size[0] - w), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError) as exc:
            message = self._encoder_error()
            self._abort()
            raise VideoError(f"The video encoder stopped while writing frame {self.frames_written}: {message}") from exc
        self.frames_written += 1

    def _encoder_error(self) -> str:
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._stderr is None:
            return "unknown error"
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1].strip() if lines else "unknown error"

    def close(self) -> None:
        """Finish the file and move it into place (VideoError if the encoder failed or nothing was written)."""
        if self._proc is None:
            return
        proc = self._proc
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            code = proc.wait()
        except BaseException:
            self._abort()
            raise
        if code != 0:
            message = self._encoder_error()
            self._abort()
            raise VideoError(f"Writing '{self.path.name}' failed: {message}")
        if self.frames_written == 0:
            self._abort()
            raise VideoError(f"No frames were written to '{self.path.name}'.")
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        self._tmp = None
        self._proc = None
        self._cleanup()

    def _abort(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass  # the pipe is already broken; the process is gone
            proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()
