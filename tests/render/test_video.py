"""The rendered video (H.264 yuv420p at the source fps and frame count, audio kept) and track thumbnails."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from render_helpers import posed_bodies, synthetic_smpl

from lart_demo.config import Settings
from lart_demo.errors import VideoError
from lart_demo.render.backends import NumpyMeshRenderer
from lart_demo.render.video import (
    RenderPerson,
    Sighting,
    best_sightings,
    render_video,
    with_track_thumbnails,
)
from lart_demo.video.io import iter_frames, open_clip

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> dict:
    """Codec, pixel format, fps, audio presence and the decoded frame count, from ffmpeg itself."""
    info = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    video = next(line for line in info.splitlines() if "Video:" in line)
    count = subprocess.run(
        [FFMPEG, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], capture_output=True, text=True
    ).stderr
    frames = int(re.findall(r"frame=\s*(\d+)", count)[-1])
    fps = float(re.search(r"([\d.]+) fps", video).group(1))
    size = tuple(int(v) for v in re.search(r", (\d+)x(\d+)", video).groups())
    return {
        "codec": video.split("Video:")[1].split()[0],
        "pix_fmt": "yuv420p" if " yuv420p" in video else video,
        "fps": fps,
        "frames": frames,
        "size": size,
        "audio": "Audio:" in info,
    }


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return synthetic_smpl(smpl_dir)


@pytest.fixture(scope="module")
def bodies(smpl):
    return posed_bodies(smpl, 2, seed=5)


@pytest.mark.slow
def test_jump_render_is_browser_playable_at_source_fps(tmp_path, examples_dir, smpl, bodies):
    clip = open_clip(examples_dir / "jump.mp4", Settings())
    n_frames, fps = clip.n_frames, clip.fps
    vertices, joints = bodies

    def people(index: int) -> list[RenderPerson]:
        if index % 20:  # people on every 20th frame keep the test fast; the rest pass through
            return []
        x = -0.5 + index / n_frames
        return [
            RenderPerson(1, vertices[0], np.array([x, 0.0, 60.0]), joints=joints[0], labels=[("run/jog", 0.8)]),
            RenderPerson(2, vertices[1], np.array([-x, 0.1, 70.0]), joints=joints[1], is_ghost=True),
        ]

    calls = []
    out = render_video(
        clip,
        iter_frames(clip),
        people,
        tmp_path / "render.mp4",
        smpl.faces,
        Settings(),
        lambda stage, done, total: calls.append((stage, done, total)),
        renderer=NumpyMeshRenderer(),
    )
    info = probe(out.path)
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert info["frames"] == n_frames == out.n_frames
    assert info["fps"] == pytest.approx(fps)
    assert info["size"] == (398, 288)
    assert (out.backend, out.notice) == ("cpu", "")  # chosen explicitly: no fallback notice
    assert calls[-1] == ("render", n_frames, n_frames) and len(calls) == n_frames
    with out.path.open("rb") as fh:  # +faststart: the index (moov) comes before the media data (mdat)
        head = fh.read(4096)
    assert b"moov" in head


def _make_clip(path: Path, fps: str, frames: int, size: str, audio: bool) -> Path:
    cmd = [FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-c:a", "aac", "-shortest"]
    cmd += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.mark.parametrize(("fps", "audio"), [("30000/1001", True), ("25", False)])
def test_side_by_side_keeps_fps_frames_and_audio(tmp_path, fps, audio, smpl, bodies):
    clip = open_clip(_make_clip(tmp_path / "in.mp4", fps, 24, "96x70", audio), Settings())
    assert clip.has_audio is audio
    vertices, _ = bodies
    out = render_video(
        clip,
        iter_frames(clip),
        {3: [RenderPerson(4, vertices[0], np.array([0.0, 0.0, 20.0]))]},
        tmp_path / "out.mp4",
        smpl.faces,
        Settings(render_style="side-by-side"),
        renderer=NumpyMeshRenderer(),
    )
    info = probe(out.path)
    assert info["frames"] == 24
    assert info["fps"] == pytest.approx({"30000/1001": 29.97, "25": 25.0}[fps], abs=0.01)
    assert clip.fps == pytest.approx(info["fps"], abs=0.01)
    assert info["size"] == (192, 70)
    assert info["audio"] is audio


def test_odd_sized_frames_are_padded_to_even(tmp_path, smpl):
    source = tmp_path / "odd.mp4"
    cmd = [FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=101x67:rate=10", "-frames:v", "5"]
    subprocess.run([*cmd, "-c:v", "libx264", "-pix_fmt", "yuv444p", str(source)], check=True)
    clip = open_clip(source, Settings())
    out = render_video(
        clip, iter_frames(clip), {}, tmp_path / "odd_out.mp4", smpl.faces, Settings(), renderer=NumpyMeshRenderer()
    )
    info = probe(out.path)
    assert info["frames"] == 5 and info["size"] == (102, 68) and info["pix_fmt"] == "yuv420p"


def test_no_frames_is_a_clear_error(tmp_path, examples_dir, smpl):
    clip = open_clip(examples_dir / "jump.mp4", Settings())
    with pytest.raises(VideoError, match="no frames"):
        render_video(clip, iter(()), {}, tmp_path / "o.mp4", smpl.faces, Settings(), renderer=NumpyMeshRenderer())
    assert not (tmp_path / "o.mp4").exists()


# ---------------------------------------------------------------------------------------------------- thumbnails


def test_thumbnail_is_the_crop_at_the_most_confident_detection(tmp_path):
    def frames():
        for i in range(6):
            frame = np.zeros((120, 160, 3), np.uint8)
            frame[20:100, 40:80] = (40 * i, 255 - 40 * i, 100)  # the "person" changes colour per frame
            yield i, frame

    box = np.array([40.0, 20.0, 80.0, 100.0])
    sightings = [Sighting(7, i, score, box) for i, score in enumerate([0.5, 0.9, 0.95, 0.7, 0.95, 0.1])]
    sightings += [Sighting(2, 5, 0.3, box)]
    assert best_sightings(sightings)[7].frame_index == 2  # highest score, earliest on ties
    passed = list(with_track_thumbnails(frames(), sightings, tmp_path / "thumbs", size=64))
    assert [i for i, _ in passed] == list(range(6))  # every frame goes on to the renderer, unchanged
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["track_2.png", "track_7.png"]
    thumb = cv2.cvtColor(cv2.imread(str(tmp_path / "thumbs" / "track_7.png")), cv2.COLOR_BGR2RGB)
    assert thumb.shape == (64, 64, 3)
    np.testing.assert_array_equal(thumb[32, 32], (80, 175, 100))  # frame 2's colour


# ---------------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_render_plays_in_headless_chromium(tmp_path, smpl, bodies):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    clip = open_clip(_make_clip(tmp_path / "in.mp4", "24", 48, "128x96", audio=False), Settings())
    out = render_video(
        clip,
        iter_frames(clip),
        {},
        tmp_path / "render.mp4",
        smpl.faces,
        Settings(),
        renderer=NumpyMeshRenderer(),
    )
    page_path = tmp_path / "page.html"
    page_path.write_text(f'<video id="v" src="{out.path.name}" muted preload="auto"></video>')
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--allow-file-access-from-files"])
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.wait_for_function("document.getElementById('v').readyState >= 1", timeout=20_000)
        duration = page.evaluate("document.getElementById('v').duration")
        error = page.evaluate("document.getElementById('v').error && document.getElementById('v').error.code")
        browser.close()
    assert error is None
    assert duration == pytest.approx(2.0, abs=0.05)
