"""The encoder: browser-playable H.264 yuv420p mp4 with +faststart at the given fps, optional source audio."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest

from lart_demo.config import Settings
from lart_demo.errors import VideoError
from lart_demo.video.io import VideoWriter, iter_frames, open_clip, probe_video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def top_level_boxes(path: Path) -> list[str]:
    """The order of the MP4's top-level boxes ('moov' before 'mdat' means the file can play while loading)."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def gradient_frames(n: int, w: int, h: int) -> list[np.ndarray]:
    """Smooth, moving frames (compress well, so the lossy round trip stays close)."""
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        r = (x * 255 // max(w - 1, 1) + 4 * t) % 256
        g = y * 255 // max(h - 1, 1)
        b = np.full_like(x, (40 + 10 * t) % 256)
        frames.append(np.stack([r, g, b], axis=-1).astype(np.uint8))
    return frames


def video_stream_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "profile": stream.profile,
            "audio": [s.codec_context.name for s in container.streams.audio],
            "colorspace": stream.codec_context.colorspace,  # AVColorSpace: 1 = BT.709
        }


def test_odd_size_frames_become_playable_h264(tmp_path: Path) -> None:
    out = tmp_path / "out" / "render.mp4"
    frames = gradient_frames(12, 99, 71)
    with VideoWriter(out, 24, (99, 71)) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 12 and writer.output_size == (100, 72)
    assert sorted(p.name for p in out.parent.iterdir()) == ["render.mp4"]  # no temp file left
    facts = video_stream_facts(out)
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p" and facts["audio"] == []
    assert facts["colorspace"] == 1
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    info = probe_video(out)
    assert (info.n_frames, info.fps, info.size, info.variable_frame_rate) == (12, 24.0, (100, 72), False)
    decoded = [f for _, f in iter_frames(open_clip(out, Settings()))]
    assert len(decoded) == 12
    for ours, original in zip(decoded, frames, strict=True):
        assert np.abs(ours[:71, :99].astype(int) - original).mean() < 3.0  # lossy, but the same picture
        # the padding repeats the edge (no dark border bleeding into the subsampled colour)
        assert np.abs(ours[:71, 99].astype(int) - original[:, 98]).mean() < 6.0
        assert np.abs(ours[71, :99].astype(int) - original[70, :]).mean() < 6.0


@pytest.mark.parametrize("fps", [30000 / 1001, 12.5, 60.0])
def test_fps_is_written_exactly(tmp_path: Path, fps: float) -> None:
    out = tmp_path / "rate.mp4"
    with VideoWriter(out, fps, (64, 64)) as writer:
        for frame in gradient_frames(10, 64, 64):
            writer.write(frame)
    info = probe_video(out)
    assert info.n_frames == 10 and info.fps == pytest.approx(fps, rel=1e-6)
    assert info.duration_s == pytest.approx(10 / fps, rel=1e-3)


def test_source_audio_is_muxed_for_the_clip_window(tmp_path: Path) -> None:
    source = tmp_path / "talk.mp4"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=3", "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(source)],
        check=True,
    )  # fmt: skip
    clip = open_clip(source, Settings(), start_s=1.0, end_s=2.0)
    assert clip.has_audio and clip.n_frames == 25
    out = tmp_path / "with_audio.mp4"
    with VideoWriter(out, clip.fps, clip.size, audio_from=clip) as writer:
        for _, frame in iter_frames(clip):
            writer.write(frame)
    assert probe_video(out).has_audio
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        seconds = sum(float(p.duration * audio.time_base) for p in container.demux(audio) if p.size)
    assert seconds == pytest.approx(1.0, abs=0.05)  # the clip's window, not the whole 3 s soundtrack


def test_audio_from_a_silent_clip_is_ignored(tmp_path: Path, examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "jump.mp4", Settings(max_duration_s=0.5))
    out = tmp_path / "silent.mp4"
    with VideoWriter(out, clip.fps, clip.size, audio_from=clip) as writer:
        for _, frame in iter_frames(clip):
            writer.write(frame)
    info = probe_video(out)
    assert not info.has_audio and info.n_frames == clip.n_frames == 12


def test_error_while_writing_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="renderer failed"):
        with VideoWriter(out, 24, (64, 64)) as writer:
            writer.write(gradient_frames(1, 64, 64)[0])
            raise RuntimeError("renderer failed")
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected an RGB uint8 frame of shape \(64, 80, 3\)"):
        with VideoWriter(tmp_path / "x.mp4", 24, (80, 64)) as writer:
            writer.write(np.zeros((80, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_no_frames_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"No frames were written to 'empty.mp4'\."):
        with VideoWriter(tmp_path / "empty.mp4", 24, (64, 64)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 24, (64, 64)) as writer:
            writer.write(gradient_frames(1, 64, 64)[0])
            raise RuntimeError("stop")
    assert out.read_bytes() == b"previous result"
    with VideoWriter(out, 24, (64, 64)) as writer:
        for frame in gradient_frames(2, 64, 64):
            writer.write(frame)
    assert probe_video(out).n_frames == 2


def test_write_outside_the_context_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        VideoWriter(tmp_path / "x.mp4", 24, (64, 64)).write(np.zeros((64, 64, 3), np.uint8))


def test_encoder_failure_names_ffmpegs_last_stderr_line(tmp_path: Path) -> None:
    """ffmpeg refuses the audio input: the user reads ffmpeg's own last line, and no file is left."""
    bad_audio = tmp_path / "audio.mp4"
    bad_audio.write_text("not a video at all")
    out = tmp_path / "out" / "render.mp4"
    with pytest.raises(VideoError) as caught:
        with VideoWriter(out, 10, (32, 32), audio_from=bad_audio) as writer:
            for _ in range(200):  # ffmpeg exits at start; the pipe breaks on some write
                writer.write(np.zeros((32, 32, 3), np.uint8))
    message = str(caught.value)
    assert "Invalid data found when processing input" in message and "\n" not in message, message
    assert list(out.parent.iterdir()) == []


def test_huge_and_odd_numbers_read_sanely() -> None:
    from lart_demo.video.io import fmt_number

    assert fmt_number(1e308) == "1e+308"
    assert fmt_number(-2.5e9) == "-2.5e+09"
    assert fmt_number(1e-300) == "1e-300"
    assert fmt_number(float("inf")) == "infinity" and fmt_number(float("nan")) == "not a number"
    assert (fmt_number(7.125), fmt_number(12.0), fmt_number(0.0)) == ("7.1", "12", "0")
