"""Sources: YouTube link validation and download (yt-dlp mocked: no internet), uploads, frames, dispatch."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import imageio_ffmpeg
import pytest
from PIL import Image
from yt_dlp.utils import DownloadError

from lart_demo.config import Settings
from lart_demo.errors import InputError, VideoError
from lart_demo.video import sources
from lart_demo.video.sources import (
    LINK_REFUSED,
    canonical_youtube_url,
    download_youtube,
    explain_youtube_error,
    open_youtube,
    resolve_source,
    youtube_video_id,
)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDEO_ID = "dQw4w9WgXcQ"


@pytest.fixture(autouse=True)
def no_real_youtube(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any test reaching the real yt-dlp downloader fails instead of touching the network."""

    def refuse(options: dict[str, Any]) -> Any:
        raise AssertionError("a test tried to use the real YoutubeDL")

    monkeypatch.setattr(sources, "_default_factory", refuse)


# ------------------------------------------------------------------------------------ link validation


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={VIDEO_ID}",
        f"https://youtube.com/watch?v={VIDEO_ID}&t=42s",
        f"https://m.youtube.com/watch?v={VIDEO_ID}",
        f"https://music.youtube.com/watch?v={VIDEO_ID}",
        f"https://www.youtubekids.com/watch?v={VIDEO_ID}",
        f"https://youtubekids.com/watch?v={VIDEO_ID}",
        f"https://www.youtube.com/watch_popup?v={VIDEO_ID}",
        f"https://www.youtube.com/watch?feature=player_embedded&v={VIDEO_ID}",
        f"https://www.youtube.com/watch?feature=player_embedded&amp;amp;v={VIDEO_ID}",
        f"https://www.youtube.com/watch?v={VIDEO_ID}&v=BaW_jenozKc",  # the first v= wins, as in yt-dlp
        f"https://youtu.be/{VIDEO_ID}?si=abc",
        f"https://youtu.be/{VIDEO_ID}?t=42",
        f"https://www.youtube.com/shorts/{VIDEO_ID}",
        f"https://www.youtube.com/live/{VIDEO_ID}",
        f"https://www.youtube.com/embed/{VIDEO_ID}",
        f"https://www.youtube.com/v/{VIDEO_ID}",
        f"https://www.youtube-nocookie.com/embed/{VIDEO_ID}",
        f"https://youtube-nocookie.com/embed/{VIDEO_ID}",
        f"https://www.youtube.com:443/watch?v={VIDEO_ID}",
        f"http://www.youtube.com:80/watch?v={VIDEO_ID}",
        f"http://www.youtube.com/watch?v={VIDEO_ID}",
        f"//www.YouTube.com/watch?v={VIDEO_ID}",
        f"www.youtube.com/watch?v={VIDEO_ID}",
        f"youtu.be/{VIDEO_ID}",
        f"  https://WWW.YOUTUBE.COM/watch?v={VIDEO_ID}  ",
        f"https://YOUTU.BE/{VIDEO_ID}",
        f"https://www.youtube.com/watch?v={VIDEO_ID}&list=PLabc",  # a video inside a playlist: just the video
        VIDEO_ID,  # a bare id, as yt-dlp takes it
    ],
)
def test_accepted_youtube_links(url: str) -> None:
    assert youtube_video_id(url) == VIDEO_ID
    assert canonical_youtube_url(VIDEO_ID) == f"https://www.youtube.com/watch?v={VIDEO_ID}"


def test_every_single_video_link_of_yt_dlps_tests() -> None:
    """Every YouTube-hosted URL in yt-dlp's own YoutubeIE tests gives the id yt-dlp extracts; other hosts
    (invidious, mirrors) are refused."""
    from yt_dlp.extractor.youtube import YoutubeIE

    urls = [t["url"] for t in YoutubeIE._TESTS if t.get("url")]
    assert len(urls) > 30
    for url in urls:
        host = (urlsplit(url if "/" in url else "").hostname or "").removeprefix("www.")
        if "/" in url and host not in sources.YOUTUBE_HOSTS:
            with pytest.raises(InputError, match="^" + re.escape(LINK_REFUSED) + "$"):
                youtube_video_id(url)
            continue
        assert youtube_video_id(url) == YoutubeIE._match_id(url), url


@pytest.mark.parametrize(
    "url",
    [
        "https://vimeo.com/123456",
        "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
        "https://evil-youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtube.co/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com@evil.example/watch?v=dQw4w9WgXcQ",
        "https://youtu.be.evil.example/dQw4w9WgXcQ",
        "https://142.250.74.46/watch?v=dQw4w9WgXcQ",
        "https://[::1]/watch?v=dQw4w9WgXcQ",
        "file:///etc/passwd",
        "ftp://youtube.com/watch?v=dQw4w9WgXcQ",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        f"https://user:pw@youtube.com/watch?v={VIDEO_ID}",
        "https://youtube.com:99999/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com/playlist?list=PLabcdef",
        "https://www.youtube.com/@SomeChannel",
        "https://www.youtube.com/channel/UCY1kMZp36IQSyNx_9h4mpCg",
        "https://www.youtube.com/c/SomeChannel",
        "https://www.youtube.com/user/someone",
        "https://www.youtube.com/results?search_query=cats",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/watch",
        "https://youtu.be/",
        f"https://youtu.be/{VIDEO_ID}/extra",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ x",
        "/etc/passwd",
        "/root/.ssh/id_rsa",
        "/home",
        "/definitely/not/there.mp4",
        "../../etc/passwd",
        "C:\\Windows\\win.ini",
        "~/clip.mp4",
        "clip.mp4",
    ],
)
def test_rejected_links_get_one_message(url: str) -> None:
    with pytest.raises(InputError) as caught:
        youtube_video_id(url)
    assert str(caught.value) == LINK_REFUSED
    assert "youtu.be/ID" in LINK_REFUSED and "shorts" in LINK_REFUSED  # it says which forms are accepted


def test_empty_link() -> None:
    with pytest.raises(InputError, match="Please paste a YouTube link"):
        youtube_video_id("  ")


# --------------------------------------------------------------------------------------- fake yt-dlp


class FakeYoutubeDL:
    """Stands in for yt_dlp.YoutubeDL: serves `video` (a local clip) as if YouTube had it; can fail like YouTube."""

    instances: list[FakeYoutubeDL] = []

    def __init__(self, options: dict[str, Any], video: Path, info: dict[str, Any], fail: str | None, stage: str):
        self.params = dict(options)
        self.video, self.info, self.fail, self.stage = video, info, fail, stage
        self.urls: list[str] = []
        FakeYoutubeDL.instances.append(self)

    def __enter__(self) -> FakeYoutubeDL:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def extract_info(self, url: str, download: bool = True) -> dict[str, Any]:
        assert download is False
        self.urls.append(url)
        if self.fail and self.stage == "extract":
            raise DownloadError(self.fail)
        return dict(self.info)

    def process_ie_result(self, info: dict[str, Any], download: bool = True) -> dict[str, Any]:
        folder = Path(self.params["paths"]["home"])
        (folder / f"{info['id']}.f137.mp4.part").write_bytes(b"partial")  # what a real download leaves mid-way
        if self.fail and self.stage == "download":
            raise DownloadError(self.fail)
        for hook in self.params["progress_hooks"]:
            hook({"status": "downloading", "downloaded_bytes": 10, "total_bytes": 100})
        target = folder / f"{info['id']}.mp4"
        ranges = self.params.get("download_ranges")
        sections = list(ranges(info, self)) if ranges else [{}]
        assert len(sections) == 1
        section = sections[0]
        if section:  # cut the window like yt-dlp's ffmpeg would
            start, end = section["start_time"], section["end_time"]
            length = [] if math.isinf(end) else ["-t", str(end - start)]
            subprocess.run(
                [FFMPEG, "-v", "error", "-ss", str(start), "-i", str(self.video), *length, "-c:v", "libx264",
                 "-pix_fmt", "yuv420p", str(target)],
                check=True,
            )  # fmt: skip
        else:
            shutil.copy(self.video, target)
        (folder / f"{info['id']}.f137.mp4.part").unlink()
        return {**info, "requested_downloads": [{"filepath": str(target)}]}


def fake_factory(video: Path, fail: str | None = None, stage: str = "extract", **info: Any):
    details = {"id": VIDEO_ID, "title": "test", "duration": 7.125, "is_live": False, **info}
    return lambda options: FakeYoutubeDL(options, video, details, fail, stage)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


def test_download_whole_short_video(examples_dir: Path, workdir: Path) -> None:
    progress: list[tuple[str, int, int | None]] = []
    FakeYoutubeDL.instances.clear()
    clip = open_youtube(
        f"https://youtu.be/{VIDEO_ID}",
        Settings(),
        workdir,
        progress=lambda *a: progress.append(a),
        factory=fake_factory(examples_dir / "jump.mp4"),
    )
    ydl = FakeYoutubeDL.instances[0]
    assert ydl.urls == [f"https://www.youtube.com/watch?v={VIDEO_ID}"]  # yt-dlp only sees the rebuilt link
    assert ydl.params["noplaylist"] is True and ydl.params["merge_output_format"] == "mp4"
    assert "height<=720" in ydl.params["format"] and "avc1" in ydl.params["format"].split("/")[0]
    assert ydl.params["max_filesize"] == 500 * (1 << 20)
    assert Path(ydl.params["ffmpeg_location"]).name.startswith("ffmpeg")
    assert "download_ranges" not in ydl.params
    assert (clip.source, clip.n_frames, clip.fps, clip.caps_applied) == ("youtube", 171, 24.0, ())
    assert progress == [("download", 10, 100)]
    assert [p.name for p in clip.path.parent.iterdir()] == [f"{VIDEO_ID}.mp4"]  # no .part left


def test_window_is_downloaded_exactly(examples_dir: Path, workdir: Path) -> None:
    FakeYoutubeDL.instances.clear()
    clip = open_youtube(
        f"https://www.youtube.com/watch?v={VIDEO_ID}",
        Settings(),
        workdir,
        start_s=2.0,
        end_s=4.0,
        factory=fake_factory(examples_dir / "jump.mp4"),
    )
    ydl = FakeYoutubeDL.instances[0]
    assert list(ydl.params["download_ranges"]({"duration": 7.125}, ydl)) == [{"start_time": 2.0, "end_time": 4.0}]
    assert ydl.params["force_keyframes_at_cuts"] is True
    assert clip.n_frames == 48 and clip.duration_s == pytest.approx(2.0)
    assert clip.caps_applied == ("Downloaded 2 s – 4 s of the 7.1 s YouTube video, as you chose.",)


def test_long_video_is_cut_to_the_duration_cap(examples_dir: Path, workdir: Path) -> None:
    FakeYoutubeDL.instances.clear()
    settings = Settings(max_duration_s=3.0)
    clip = open_youtube(
        f"https://www.youtube.com/shorts/{VIDEO_ID}", settings, workdir, factory=fake_factory(examples_dir / "jump.mp4")
    )
    ranges = FakeYoutubeDL.instances[0].params["download_ranges"]
    assert list(ranges({"duration": 7.125}, None)) == [{"start_time": 0.0, "end_time": 3.0}]
    assert clip.n_frames == 72
    assert clip.caps_applied == ("Trimmed to the first 3 s (of 7.1 s); the limit is 3 s.",)


def test_window_longer_than_the_cap(examples_dir: Path, workdir: Path) -> None:
    settings = Settings(max_duration_s=2.0)
    clip = open_youtube(
        f"https://youtu.be/{VIDEO_ID}",
        settings,
        workdir,
        start_s=1.0,
        end_s=6.0,
        factory=fake_factory(examples_dir / "jump.mp4"),
    )
    assert clip.n_frames == 48
    assert clip.caps_applied == (
        "Downloaded 1 s – 6 s of the 7.1 s YouTube video, as you chose.",
        "Trimmed to 2 s starting at 1 s (of 5 s); the limit is 2 s.",
    )


def test_start_after_the_end_is_an_input_error(examples_dir: Path, workdir: Path) -> None:
    with pytest.raises(InputError, match=r"The start time 9 s is after the end of the video \(7.1 s\)\."):
        open_youtube(
            f"https://youtu.be/{VIDEO_ID}", Settings(), workdir, start_s=9.0, factory=fake_factory(examples_dir)
        )
    assert list(workdir.iterdir()) == []


def test_live_streams_are_refused(examples_dir: Path, workdir: Path) -> None:
    factory = fake_factory(examples_dir / "jump.mp4", is_live=True, duration=None)
    with pytest.raises(VideoError, match=r"^Live streams cannot be processed\. Please download the video yourself"):
        open_youtube(f"https://youtu.be/{VIDEO_ID}", Settings(), workdir, factory=factory)
    assert list(workdir.iterdir()) == []


YOUTUBE_FAILURES = [
    ("ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you're not a bot. Use --cookies-from-browser or --cookies",
     "YouTube refused the download from this server (it asks to sign in to prove we are not a bot)."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Private video. Sign in if you've been granted access to this video",
     "This YouTube video is private."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Video unavailable. This video has been removed by the uploader",
     "This YouTube video is unavailable (removed, blocked or never existed)."),
    ("ERROR: [youtube] dQw4w9WgXcQ: The uploader has not made this video available in your country",
     "This YouTube video is not available in the country where this server runs."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm your age. This video may be inappropriate for some users.",
     "This YouTube video is age-restricted."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in name "
     "resolution> (caused by TransportError)", "YouTube could not be reached (this server may be offline)."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Requested format is not available. Use --list-formats",
     "YouTube offered no video format we can use for this video."),
    ("ERROR: [youtube] dQw4w9WgXcQ: Something new went wrong\nwith details",
     "The YouTube download failed (Something new went wrong)."),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "explanation"), YOUTUBE_FAILURES)
@pytest.mark.parametrize("stage", ["extract", "download"])
def test_youtube_failures_become_one_line(
    examples_dir: Path, workdir: Path, raw: str, explanation: str, stage: str
) -> None:
    factory = fake_factory(examples_dir / "jump.mp4", fail=raw, stage=stage)
    with pytest.raises(VideoError) as caught:
        open_youtube(f"https://youtu.be/{VIDEO_ID}", Settings(), workdir, factory=factory)
    message = str(caught.value)
    assert message == f"{explanation} Please download the video yourself and upload the file instead."
    assert "\n" not in message
    assert list(workdir.iterdir()) == []  # the partial download was removed


def test_explain_keeps_unknown_errors_short() -> None:
    message = explain_youtube_error("ERROR: " + "x" * 1000)
    assert len(message) < 300 and message.endswith("upload the file instead.")


def test_nothing_delivered_means_too_large(examples_dir: Path, workdir: Path) -> None:
    class SkipsLargeFile(FakeYoutubeDL):
        def process_ie_result(self, info: dict[str, Any], download: bool = True) -> dict[str, Any]:
            return info  # yt-dlp skips files over max_filesize without raising

    factory = lambda options: SkipsLargeFile(options, examples_dir, {"id": VIDEO_ID, "duration": 5}, None, "")  # noqa: E731
    with pytest.raises(VideoError, match=r"YouTube did not deliver a video file; it may be too large \(the limit is"):
        download_youtube(f"https://youtu.be/{VIDEO_ID}", Settings(), workdir, factory=factory)
    assert list(workdir.iterdir()) == []


def test_downloaded_file_that_is_not_a_video_is_removed(tmp_path: Path, workdir: Path) -> None:
    fake_video = tmp_path / "fake.mp4"
    fake_video.write_text("<html>blocked</html>")
    with pytest.raises(VideoError, match=r"is a text file, not a video"):
        open_youtube(f"https://youtu.be/{VIDEO_ID}", Settings(), workdir, factory=fake_factory(fake_video))
    assert list(workdir.iterdir()) == []


# ----------------------------------------------------------------------------------------- dispatcher


def test_resolve_source_dispatches(examples_dir: Path, tmp_path: Path) -> None:
    settings = Settings(output_dir=tmp_path / "out")
    upload = resolve_source(examples_dir / "jump.mp4", settings, start_s=1, end_s=2)
    assert upload.source == "upload" and upload.n_frames == 24
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (80, 64), (i, 0, 0)).save(folder / f"{i}.png")
    frames = resolve_source(folder, settings, frames_fps=12)
    assert frames.source == "frames" and frames.n_frames == 3 and frames.fps == 12
    shutil.make_archive(str(tmp_path / "frames"), "zip", folder)
    assert resolve_source(tmp_path / "frames.zip", settings).n_frames == 3
    for link in ("https://example.com/video.mp4", "file:///etc/passwd"):
        with pytest.raises(InputError, match="^" + re.escape(LINK_REFUSED) + "$"):
            resolve_source(link, settings)
    assert not (tmp_path / "out").exists()  # rejected links never create a download folder


def test_resolve_source_youtube_uses_output_dir(
    examples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_default_factory", fake_factory(examples_dir / "jump.mp4"))
    clip = resolve_source(f"https://youtu.be/{VIDEO_ID}", Settings(output_dir=tmp_path / "out"))
    assert clip.source == "youtube" and clip.n_frames == 171
    assert clip.path.parent.parent == tmp_path / "out" / "downloads"


def test_huge_times_read_sanely(examples_dir: Path, tmp_path: Path) -> None:
    settings = Settings(output_dir=tmp_path / "out")
    with pytest.raises(InputError) as caught:
        resolve_source(examples_dir / "jump.mp4", settings, start_s=1e308)
    assert str(caught.value) == "The start time 1e+308 s is at or after the end of the video (7.12 s)."
    with pytest.raises(InputError, match=r"^The start time must be 0 s or later \(got not a number\)\.$"):
        resolve_source(examples_dir / "jump.mp4", settings, start_s=float("nan"))
