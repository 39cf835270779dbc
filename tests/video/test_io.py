"""Probe and streaming decode: the real example clips and generated ones (vertical, odd, VFR, rotated, containers)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from video_helpers import read_frame

from lart_demo.config import Settings
from lart_demo.errors import InputError
from lart_demo.video.io import format_probe, iter_frames, open_clip, probe_video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
NO_CAPS = Settings(max_duration_s=0, max_side=0)  # 0 disables a cap: frames exactly as in the source


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_testsrc(path: Path, size: str = "160x96", rate: float = 30, seconds: float = 1, *extra: str) -> Path:
    """A small H.264 clip of FFmpeg's asymmetric test pattern (rotation or flips would show)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds), *extra, str(path))
    return path


def ffmpeg_frames(
    path: Path, *vf: str, size: tuple[int, int] | None = None, count: int | None = None
) -> list[np.ndarray]:
    """The frames as FFmpeg itself decodes them (it applies rotation metadata itself), RGB, no rate conversion."""
    args = ["-fps_mode", "passthrough"] + (["-vf", ",".join(vf)] if vf else [])
    args += ["-frames:v", str(count)] if count else []
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), *args, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        check=True,
        capture_output=True,
    ).stdout
    w, h = size or probe_video(path).size
    return list(np.frombuffer(out, np.uint8).reshape(-1, h, w, 3))


def all_frames(clip) -> list[np.ndarray]:
    return [frame for _, frame in iter_frames(clip)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    made = {
        "base": make_testsrc(d / "base.mp4", "160x96", 30, 1, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        "vertical": make_testsrc(d / "vertical.mp4", "96x160", 25, 1, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        # yuv444p H.264 stores odd sizes exactly (yuv420p cannot)
        "odd": make_testsrc(
            d / "odd.mp4", "160x96", 24, 1, "-vf", "scale=161:97,setsar=1", "-c:v", "libx264", "-pix_fmt", "yuv444p"
        ),
        "vfr": d / "vfr.mp4",
        "sar": make_testsrc(
            d / "sar.mp4", "160x96", 25, 0.4, "-vf", "setsar=2", "-c:v", "libx264", "-pix_fmt", "yuv420p"
        ),
        "mov": make_testsrc(d / "clip.mov", "160x96", 25, 0.4, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        "m4v": make_testsrc(d / "clip.m4v", "160x96", 25, 0.4, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        "mkv": make_testsrc(d / "clip.mkv", "160x96", 25, 0.4, "-c:v", "libx264", "-bf", "2"),
        "webm": make_testsrc(d / "clip.webm", "160x96", 25, 0.4, "-c:v", "libvpx-vp9", "-deadline", "realtime"),
        "avi": make_testsrc(d / "clip.avi", "160x96", 25, 0.4, "-c:v", "mpeg4", "-bf", "2"),
        "ntsc": make_testsrc(d / "ntsc.mp4", "160x96", "30000/1001", 0.5, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
    }
    # variable frame rate: frames 0-9 every 1/30 s, then every 2/30 s (like a phone slowing down in low light)
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30,setpts='if(lt(N,10),N,10+(N-10)*2)/30/TB'",
        "-frames:v", "30", "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(made["vfr"]),
    )  # fmt: skip
    # phone clips store landscape pixels plus a display matrix; 90 = turn counter-clockwise, -90 = clockwise
    for degrees in (90, -90, 180):
        made[f"rot{degrees}"] = d / f"rot{degrees}.mp4"
        ffmpeg("-display_rotation", str(degrees), "-i", str(made["base"]), "-c", "copy", str(made[f"rot{degrees}"]))
    return made


# ----------------------------------------------------------------------------------------- real clips


def test_probe_jump(examples_dir: Path) -> None:
    info = probe_video(examples_dir / "jump.mp4")
    assert (info.n_frames, info.fps, info.size) == (171, 24.0, (398, 288))
    assert info.codec == "h264" and not info.variable_frame_rate and info.rotation == 0
    assert info.duration_s == pytest.approx(171 / 24)
    assert info.has_audio is False


def test_probe_phalp_vid(examples_dir: Path) -> None:
    info = probe_video(examples_dir / "phalp_vid.mp4")
    assert (info.n_frames, info.fps, info.size) == (180, 30.0, (1920, 1088))
    assert info.duration_s == pytest.approx(6.0)
    text = format_probe(info)
    for expected in ("1920×1088", "30 fps (constant)", "frames:     180", "h264", "6.000 s"):
        assert expected in text


def test_jump_frames_equal_ffmpeg_decode(examples_dir: Path) -> None:
    path = examples_dir / "jump.mp4"
    clip = open_clip(path, Settings())
    assert (clip.n_frames, clip.fps, clip.size, clip.caps_applied) == (171, 24.0, (398, 288), ())
    ours = all_frames(clip)
    reference = ffmpeg_frames(path)
    assert len(ours) == len(reference) == 171
    assert all(a.dtype == np.uint8 and a.shape == (288, 398, 3) for a in ours)
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference, strict=True))


def resident_bytes() -> int:
    """This process's resident memory now (PyAV's frame buffers are invisible to tracemalloc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc to read resident memory")
def test_phalp_vid_streams_full_resolution_in_bounded_memory(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "phalp_vid.mp4", Settings(max_side=1920))
    frame_bytes = 1920 * 1088 * 3  # 6.3 MB; all 180 frames would be 1.1 GB
    count, growth = 0, 0
    baseline = resident_bytes()
    for index, frame in iter_frames(clip):
        assert index == count and frame.shape == (1088, 1920, 3)
        count += 1
        growth = max(growth, resident_bytes() - baseline)
        del frame
    assert count == 180
    # decoder threads keep a few frames in flight; holding every frame would grow by 180 frames
    assert growth < 30 * frame_bytes, f"resident memory grew by {growth / 1e6:.0f} MB while streaming"


@pytest.mark.slow
def test_default_settings_downscale_phalp_vid_and_say_so(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "phalp_vid.mp4", Settings())  # max_side 1280
    assert clip.size == (1280, 725) and clip.source_size == (1920, 1088)
    assert clip.caps_applied == ("Downscaled from 1920×1088 to 1280×725 (longest side limited to 1280 px).",)
    frame = read_frame(clip, 30)
    assert frame.shape == (725, 1280, 3)
    reference = ffmpeg_frames(examples_dir / "phalp_vid.mp4", "scale=1280:725:flags=area", size=(1280, 725), count=31)[
        30
    ]
    assert np.abs(frame.astype(int) - reference).mean() < 2.0


# ------------------------------------------------------------------------------------ trimming & caps


def test_start_end_window(examples_dir: Path) -> None:
    path = examples_dir / "jump.mp4"
    clip = open_clip(path, NO_CAPS, start_s=2.0, end_s=5.0)
    assert (clip.n_frames, clip.start_s) == (72, 2.0)
    assert clip.caps_applied == ("Using 2–5 s of the 7.1 s video, as you chose.",)
    reference = ffmpeg_frames(path)
    ours = all_frames(clip)
    assert all(np.array_equal(a, reference[48 + k]) for k, a in enumerate(ours))
    assert clip.frame_time(10) == pytest.approx(2.0 + 10 / 24)


def test_duration_cap_is_reported(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "jump.mp4", Settings(max_duration_s=3.0, max_side=0))
    assert clip.n_frames == 72 and clip.duration_s == pytest.approx(3.0)
    assert clip.caps_applied == ("Trimmed to the first 3 s (of 7.1 s); the limit is 3 s.",)
    later = open_clip(examples_dir / "jump.mp4", Settings(max_duration_s=3.0, max_side=0), start_s=1.0)
    assert later.caps_applied[-1] == "Trimmed to 3 s starting at 1 s (of 6.1 s); the limit is 3 s."
    assert later.n_frames == 72 and later.start_s == 1.0


def test_end_past_the_video_is_clamped_with_a_note(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "jump.mp4", NO_CAPS, end_s=100)
    assert clip.n_frames == 171 and clip.caps_applied == ()
    assert "past the video's end" in clip.notes[0]


def test_processing_fps_resamples_by_time(examples_dir: Path) -> None:
    path = examples_dir / "jump.mp4"
    clip = open_clip(path, Settings(processing_fps=12, max_side=0))
    assert clip.fps == 12 and clip.n_frames == 86  # ceil(7.125 s * 12)
    assert clip.caps_applied == ("Resampled from 24 fps to 12 fps (processing fps setting).",)
    reference = ffmpeg_frames(path)
    assert all(np.array_equal(a, reference[2 * k]) for k, a in enumerate(all_frames(clip)))


def test_processing_fps_above_source_keeps_source(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "jump.mp4", Settings(processing_fps=60))
    assert clip.fps == 24 and clip.n_frames == 171 and clip.caps_applied == ()
    assert clip.notes == ("Kept the source's 24 fps: the processing fps 60 is higher.",)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1.0, None, "The start time must be 0 s or later"),
        (8.0, None, "is at or after the end of the video (7.12 s)"),
        (3.0, 2.0, "must be after the start time"),
    ],
)
def test_bad_window_is_an_input_error(examples_dir: Path, start: float, end: float | None, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_clip(examples_dir / "jump.mp4", Settings(), start_s=start, end_s=end)


def test_read_frame_and_partial_ranges_match_streaming(examples_dir: Path) -> None:
    clip = open_clip(examples_dir / "jump.mp4", Settings())
    reference = ffmpeg_frames(examples_dir / "jump.mp4")
    for index in (0, 1, 97, 150, 170):  # across several GOPs: each read seeks
        assert np.array_equal(read_frame(clip, index), reference[index])
    part = list(iter_frames(clip, 120, 125))
    assert [k for k, _ in part] == [120, 121, 122, 123, 124]
    assert all(np.array_equal(frame, reference[k]) for k, frame in part)


def test_clip_meta_is_json(examples_dir: Path) -> None:
    meta = open_clip(examples_dir / "phalp_vid.mp4", Settings()).to_dict()
    again = json.loads(json.dumps(meta))
    assert again["n_frames"] == 180 and again["width"] == 1280 and again["caps_applied"][0].startswith("Downscaled")


# -------------------------------------------------------------------------------------- generated clips


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_rotated_phone_clip_comes_out_upright(clips: dict[str, Path], degrees: int) -> None:
    path = clips[f"rot{degrees}"]
    info = probe_video(path)
    assert info.rotation == degrees % 360
    assert info.size == ((96, 160) if degrees % 180 else (160, 96))
    assert (info.coded_width, info.coded_height) == (160, 96)
    clip = open_clip(path, Settings())
    assert clip.size == info.size and "Rotated" in clip.notes[0]
    ours = all_frames(clip)
    reference = ffmpeg_frames(path)  # FFmpeg applies the display matrix itself
    assert len(ours) == len(reference) == 30
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference, strict=True))
    assert np.array_equal(read_frame(clip, 17), reference[17])


def test_rotated_clip_downscale_keeps_orientation(clips: dict[str, Path]) -> None:
    clip = open_clip(clips["rot90"], Settings(max_side=80))
    assert clip.size == (48, 80)
    assert read_frame(clip, 0).shape == (80, 48, 3)


@pytest.mark.parametrize(("name", "size", "fps", "n"), [("vertical", (96, 160), 25, 25), ("odd", (161, 97), 24, 24)])
def test_vertical_and_odd_sizes(clips: dict[str, Path], name: str, size: tuple[int, int], fps: float, n: int) -> None:
    info = probe_video(clips[name])
    assert (info.size, info.fps, info.n_frames) == (size, fps, n)
    ours = all_frames(open_clip(clips[name], Settings()))
    reference = ffmpeg_frames(clips[name])
    assert len(ours) == n and ours[0].shape == (size[1], size[0], 3)
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference, strict=True))


def test_variable_frame_rate_is_resampled_by_timestamps(clips: dict[str, Path]) -> None:
    path = clips["vfr"]
    info = probe_video(path)
    source_times = np.array([i if i < 10 else 10 + (i - 10) * 2 for i in range(30)]) / 30  # how it was made
    assert info.variable_frame_rate and info.n_frames == 30
    assert info.frame_times == pytest.approx(source_times)
    assert info.fps == pytest.approx(29 / source_times[-1])  # the true average rate, not the nominal 30
    clip = open_clip(path, Settings())
    assert clip.fps == pytest.approx(info.fps) and "variable frame rate" in clip.notes[0]
    assert clip.n_frames == int(np.ceil(info.duration_s * info.fps - 1e-6))
    reference = ffmpeg_frames(path)
    for k, frame in iter_frames(clip):
        nearest = int(np.argmin(np.abs(source_times - k / clip.fps)))
        assert np.array_equal(frame, reference[nearest]), k


def test_ntsc_rate_is_exact(clips: dict[str, Path]) -> None:
    info = probe_video(clips["ntsc"])
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-9)
    assert info.n_frames == 15


def test_pixel_aspect_ratio_is_applied(clips: dict[str, Path]) -> None:
    info = probe_video(clips["sar"])
    assert info.size == (320, 96) and (info.coded_width, info.coded_height) == (160, 96)
    frame = read_frame(open_clip(clips["sar"], Settings()), 3)
    assert frame.shape == (96, 320, 3)


@pytest.mark.parametrize("name", ["mov", "m4v", "mkv", "webm", "avi"])
def test_other_containers(clips: dict[str, Path], name: str) -> None:
    info = probe_video(clips[name])
    assert (info.size, info.fps, info.n_frames) == ((160, 96), 25, 10)
    clip = open_clip(clips[name], Settings())
    reference = ffmpeg_frames(clips[name])
    ours = all_frames(clip)
    assert len(ours) == len(reference) == 10
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference, strict=True))
    assert np.array_equal(read_frame(clip, 7), reference[7])
