"""Every bad input becomes a VideoError (or InputError) whose message a user understands; nothing is left behind."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import pytest

from lart_demo.config import Settings
from lart_demo.errors import InputError, LartDemoError, VideoError
from lart_demo.video.io import open_clip, probe_video
from lart_demo.video.sources import open_upload

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def h264(path: Path, size: str = "160x96", rate: str = "30", seconds: str = "1", *extra: str) -> Path:
    source = f"testsrc2=size={size}:rate={rate}"
    ffmpeg("-f", "lavfi", "-i", source, "-t", seconds, *extra, "-c:v", "libx264", str(path))
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid mp4 with its index at the end (FFmpeg's default), to damage in different ways."""
    return h264(tmp_path_factory.mktemp("good") / "good.mp4", "160x96", "30", "1", "-pix_fmt", "yuv420p")


def _empty(d: Path, good: Path) -> Path:
    (d / "empty.mp4").touch()
    return d / "empty.mp4"


def _text(d: Path, good: Path) -> Path:
    (d / "notes.mp4").write_text("These are my holiday notes, not a video.\n" * 10)
    return d / "notes.mp4"


def _random_bytes(d: Path, good: Path) -> Path:
    (d / "corrupt.mp4").write_bytes(random.Random(0).randbytes(20_000))
    return d / "corrupt.mp4"


def _header_destroyed(d: Path, good: Path) -> Path:
    data = bytearray(good.read_bytes())
    data[:64] = bytes(64)
    (d / "damaged.mp4").write_bytes(bytes(data))
    return d / "damaged.mp4"


def _truncated_index_at_end(d: Path, good: Path) -> Path:
    data = good.read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])
    return d / "cut.mp4"


def _truncated_faststart(d: Path, good: Path) -> Path:
    ffmpeg("-i", str(good), "-c", "copy", "-movflags", "+faststart", str(d / "fs.mp4"))
    data = (d / "fs.mp4").read_bytes()
    (d / "fs.mp4").unlink()
    (d / "cut_fs.mp4").write_bytes(data[: len(data) // 2])
    return d / "cut_fs.mp4"


def _audio_only(d: Path, good: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(d / "song.mp4"))
    return d / "song.mp4"


def _zero_frames(d: Path, good: Path) -> Path:
    # a video stream is declared (raw 160x96) but not one packet follows; the audio track is real
    (d / "none.raw").touch()
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(d / "a.m4a"))
    ffmpeg("-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "160x96", "-r", "30", "-i", str(d / "none.raw"),
           "-i", str(d / "a.m4a"), "-map", "0:v", "-map", "1:a", "-c", "copy", str(d / "zero.avi"))  # fmt: skip
    (d / "none.raw").unlink()
    (d / "a.m4a").unlink()
    return d / "zero.avi"


def _single_frame(d: Path, good: Path) -> Path:
    ffmpeg("-i", str(good), "-frames:v", "1", "-c:v", "libx264", str(d / "still.mp4"))
    return d / "still.mp4"


def _unknown_codec(d: Path, good: Path) -> Path:
    # Matroska names its codec with a string; rename H.264 to an id no decoder has
    ffmpeg("-i", str(good), "-c", "copy", str(d / "tmp.mkv"))
    data = (d / "tmp.mkv").read_bytes()
    (d / "tmp.mkv").unlink()
    assert b"V_MPEG4/ISO/AVC" in data
    (d / "alien.mkv").write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC", 1))
    return d / "alien.mkv"


def _tiny(d: Path, good: Path) -> Path:
    return h264(d / "tiny.mp4", "48x36", "30", "0.5", "-pix_fmt", "yuv420p")


def _thousand_fps(d: Path, good: Path) -> Path:
    return h264(d / "fast.mp4", "160x96", "1000", "0.05", "-pix_fmt", "yuv420p")


def _half_fps(d: Path, good: Path) -> Path:
    return h264(d / "slow.mp4", "160x96", "0.5", "8", "-pix_fmt", "yuv420p")


CASES: list[tuple[Callable[[Path, Path], Path], str]] = [
    (_empty, "The file 'empty.mp4' is empty (0 bytes). Please upload the video again."),
    (_text, "'notes.mp4' is a text file, not a video (renaming a file does not convert it)."),
    (_random_bytes, "'corrupt.mp4' is not a video we can read (the file is damaged or not a video)."),
    (_header_destroyed, "'damaged.mp4' is not a video we can read (the file is damaged or not a video)."),
    (_truncated_index_at_end, "'cut.mp4' is incomplete or damaged: the MP4 header is there but the video index is "
     "missing, which usually means the upload or copy was cut off. Please upload the complete file."),
    (_truncated_faststart, "'cut_fs.mp4' is incomplete: its header announces 30 frames but only"),
    (_audio_only, "'song.mp4' contains only audio, no video track. Please upload a video file."),
    (_zero_frames, "'zero.avi' has a video track but no video frames in it. Please upload another video."),
    (_single_frame, "'still.mp4' holds a single picture, not a moving video. Please upload a video."),
    (_unknown_codec, "'alien.mkv' uses a video codec we cannot decode. Please upload an MP4 (H.264)"),
    (_tiny, "'tiny.mp4' is only 48×36 pixels; people cannot be recognised that small. "
     "Please use a video at least 64 pixels on its short side."),
    (_thousand_fps, "'fast.mp4' has 1000 fps, an unusable frame rate (we accept 1–300 fps)."),
    (_half_fps, "'slow.mp4' has 0.5 fps, an unusable frame rate (we accept 1–300 fps)."),
]  # fmt: skip


@pytest.mark.parametrize(("make", "message"), CASES, ids=[make.__name__.strip("_") for make, _ in CASES])
def test_bad_video_message(tmp_path: Path, good: Path, make: Callable[[Path, Path], Path], message: str) -> None:
    path = make(tmp_path, good)
    before = sorted(tmp_path.iterdir())
    for attempt in (probe_video, lambda p: open_clip(p, Settings()), lambda p: open_upload(p, Settings())):
        with pytest.raises(VideoError) as caught:
            attempt(path)
        assert str(caught.value).startswith(message)
        assert "Traceback" not in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(tmp_path.iterdir()) == before  # nothing written next to the input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"The video file 'gone.mp4' does not exist\. Please choose the file again\."):
        probe_video(tmp_path / "gone.mp4")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").mkdir()
    with pytest.raises(VideoError, match=r"'clip.mp4' is a folder, not a video file"):
        probe_video(tmp_path / "clip.mp4")


def test_unsupported_extension_is_rejected_before_decoding(tmp_path: Path, good: Path) -> None:
    gif = tmp_path / "funny.gif"
    shutil.copy(good, gif)
    with pytest.raises(InputError, match=r"'funny.gif' is not a supported video type \(\.gif\)\. Please upload one of"):
        open_upload(gif, Settings())


def test_upload_over_the_size_limit(tmp_path: Path, good: Path) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(good.read_bytes() + bytes(3 << 20))
    with pytest.raises(InputError, match=r"'big.mp4' is 3 MB; the limit is 2 MB\. Please trim or compress"):
        open_upload(big, Settings(max_upload_mb=2))


def test_every_error_is_a_lart_demo_error() -> None:
    # the CLI and UI show LartDemoError messages instead of tracebacks
    assert issubclass(VideoError, LartDemoError) and issubclass(InputError, LartDemoError)
