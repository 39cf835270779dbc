"""Where a clip comes from: an uploaded file, a YouTube link or a folder/zip of frames -> a validated Clip.

YouTube is best effort: YouTube often refuses downloads from data-centre machines (Spaces included),
so every failure becomes one line that says what happened and suggests uploading the file instead.
Only links to a single YouTube video are accepted; yt-dlp only ever sees the canonical watch URL
rebuilt from the video id, never the user's text.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lart_demo.config import Settings
from lart_demo.contracts import Clip
from lart_demo.errors import InputError, VideoError
from lart_demo.progress import ProgressFn, no_progress
from lart_demo.video.frames import DEFAULT_FRAMES_FPS, open_frames
from lart_demo.video.io import VIDEO_EXTENSIONS, duration_cap_sentence, ffmpeg_exe, fmt_number, open_clip

# Hosts serving single YouTube videos (each also with "www."), as yt-dlp's YoutubeIE accepts them
YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "m.youtube.com", "music.youtube.com", "youtubekids.com", "youtube-nocookie.com", "youtu.be"}
)
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_WATCH_PATHS = ("watch", "watch_popup")  # ?v=ID
_ID_PATHS = ("shorts", "embed", "live", "v", "e")  # /shorts/ID, /embed/ID (nocookie), /live/ID, /v/ID, /e/ID
ACCEPTED_LINKS = (
    "youtube.com/watch?v=ID (also www., m., music., youtubekids.com and watch_popup), "
    "youtube.com/shorts/ID, /live/ID, /embed/ID or /v/ID, youtube-nocookie.com/embed/ID, youtu.be/ID"
)
# ONE message for every refused link: it depends on nothing but the policy, never on what exists on the server
LINK_REFUSED = (
    f"The link field takes a link to one YouTube video: {ACCEPTED_LINKS}. "
    "Playlists, channels, other sites and file paths are not accepted; to analyse a file, upload it."
)
# <=720p H.264 in mp4 first (no re-encode, plays everywhere), then anything <=720p, then the smallest
YOUTUBE_FORMAT = (
    "bv*[height<=720][ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[height<=720][ext=mp4][vcodec^=avc1]"
    "/bv*[height<=720]+ba/b[height<=720]/wv*+wa/w"
)
UPLOAD_INSTEAD = "Please download the video yourself and upload the file instead."
YoutubeDLFactory = Callable[[dict[str, Any]], Any]


# ------------------------------------------------------------------------------------------- uploads


def validate_upload(path: str | os.PathLike[str], settings: Settings) -> Path:
    """Check an uploaded file's type and size before decoding it (InputError/VideoError with advice)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"The uploaded file '{path.name}' is missing. Please upload it again.")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        kinds = ", ".join(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)
        raise InputError(
            f"'{path.name}' is not a supported video type ({suffix or 'no extension'}). "
            f"Please upload one of: {kinds} (or a folder/zip of frames)."
        )
    size_mb = path.stat().st_size / (1 << 20)
    if settings.max_upload_mb and size_mb > settings.max_upload_mb:
        raise InputError(
            f"'{path.name}' is {size_mb:.0f} MB; the limit is {settings.max_upload_mb:g} MB. "
            "Please trim or compress the video and upload it again."
        )
    return path


def open_upload(
    path: str | os.PathLike[str],
    settings: Settings,
    start_s: float | None = None,
    end_s: float | None = None,
    source: str = "upload",
) -> Clip:
    """An uploaded (or example) video file -> Clip, after type and size checks."""
    return open_clip(validate_upload(path, settings), settings, start_s=start_s, end_s=end_s, source=source)


# ------------------------------------------------------------------------------------------- YouTube


def looks_like_url(text: str) -> bool:
    """True for text the CLI should treat as a link (validated as one, never opened as a file)."""
    stripped = text.strip().lower()
    return "://" in stripped or stripped.startswith(("www.", *(f"{host}/" for host in YOUTUBE_HOSTS)))


def _youtube_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host.removeprefix("www.") in YOUTUBE_HOSTS


def youtube_video_id(url: str) -> str:
    """The 11-character id of a link to one YouTube video (any form yt-dlp's YoutubeIE accepts for a single
    video, or a bare id); InputError with `LINK_REFUSED` for anything else, whatever it names."""
    text = url.strip()
    if not text:
        raise InputError("Please paste a YouTube link (https://www.youtube.com/watch?v=...) or upload a video.")
    if _VIDEO_ID.fullmatch(text):
        return text
    if any(ch.isspace() or ord(ch) < 32 for ch in text) or "\\" in text:
        raise InputError(LINK_REFUSED)
    if "://" not in text and not text.startswith("//"):
        text = "//" + text  # youtube.com/watch?v=... pasted without a scheme
    while "&amp;" in text:  # a link copied out of HTML: ...?feature=player_embedded&amp;amp;v=ID
        text = text.replace("&amp;", "&")
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InputError(LINK_REFUSED) from None
    if (
        parts.scheme.lower() not in ("", "http", "https")
        or parts.username is not None
        or parts.password is not None
        or not _youtube_host(parts.hostname or "")
    ):
        raise InputError(LINK_REFUSED)
    query = parse_qs(parts.query)
    segments = [seg for seg in parts.path.split("/") if seg]
    video_id = ""
    if (parts.hostname or "").lower().removeprefix("www.").rstrip(".") == "youtu.be":
        video_id = segments[0] if len(segments) == 1 else ""
    elif len(segments) == 1 and segments[0] in _WATCH_PATHS:
        video_id = (query.get("v") or [""])[0]  # the first v= wins, as in yt-dlp
    elif len(segments) == 2 and segments[0] in _ID_PATHS:
        video_id = segments[1]
    if not _VIDEO_ID.fullmatch(video_id):
        raise InputError(LINK_REFUSED)
    return video_id


def canonical_youtube_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


_YOUTUBE_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("not a bot", "confirm you're not", "confirm you’re not"),
     "YouTube refused the download from this server (it asks to sign in to prove we are not a bot)."),
    (("private video",), "This YouTube video is private."),
    (("confirm your age", "age-restricted", "inappropriate for some users"), "This YouTube video is age-restricted."),
    (("available in your country", "from your location", "geo restrict", "geo-restrict", "blocked it in your country"),
     "This YouTube video is not available in the country where this server runs."),
    (("members-only", "join this channel"), "This YouTube video is for channel members only."),
    (("requested format is not available",), "YouTube offered no video format we can use for this video."),
    (("removed", "no longer available", "terminated", "video unavailable", "does not exist", "not available"),
     "This YouTube video is unavailable (removed, blocked or never existed)."),
    (("unable to download webpage", "urlopen error", "name resolution", "timed out", "network is unreachable",
      "connection refused", "connection reset", "no address associated", "failed to resolve", "getaddrinfo"),
     "YouTube could not be reached (this server may be offline)."),
)  # fmt: skip


def explain_youtube_error(message: str) -> str:
    """One line for the user: what went wrong with YouTube, and to upload the file instead."""
    low = message.lower()
    for needles, explanation in _YOUTUBE_FAILURES:
        if any(needle in low for needle in needles):
            return f"{explanation} {UPLOAD_INSTEAD}"
    first = next((line.strip() for line in message.splitlines() if line.strip()), "unknown error")
    first = re.sub(r"^(ERROR:\s*)?(\[[^\]]+\]\s*)?([\w-]{11}:\s*)?", "", first)[:200]
    return f"The YouTube download failed ({first}). {UPLOAD_INSTEAD}"


def _youtube_window(
    duration: float | None, start_s: float | None, end_s: float | None, settings: Settings
) -> tuple[tuple[float, float] | None, list[str]]:
    """The (start, end) seconds to download (None: the whole video) and the sentences describing the cut."""
    start = float(start_s or 0.0)
    if start < 0 or not math.isfinite(start):
        raise InputError(f"The start time must be 0 s or later (got {fmt_number(start)}).")
    if duration is not None and start >= duration:
        raise InputError(
            f"The start time {fmt_number(start)} s is after the end of the video ({fmt_number(duration)} s)."
        )
    end = duration  # None: YouTube did not say how long the video is
    if end_s is not None:
        if end_s <= start:
            raise InputError(
                f"The end time ({fmt_number(end_s)} s) must be after the start time ({fmt_number(start)} s)."
            )
        end = float(end_s) if duration is None else min(float(end_s), duration)
    caps: list[str] = []
    of_total = f" of the {fmt_number(duration)} s YouTube video" if duration is not None else " of the YouTube video"
    if start > 0 or end != duration:
        shown_end = f"{fmt_number(end)} s" if end is not None else "the end"
        caps.append(f"Downloaded {fmt_number(start)} s – {shown_end}{of_total}, as you chose.")
    cap = settings.max_duration_s
    if cap and (end is None or end - start > cap):
        caps.append(duration_cap_sentence(start, None if end is None else end - start, cap))
        end = start + cap
    if start == 0 and end == duration:
        return None, caps
    return (start, math.inf if end is None else end), caps


def _default_factory(options: dict[str, Any]) -> Any:
    from yt_dlp import YoutubeDL  # imported lazily: only YouTube sources need it

    return YoutubeDL(options)


def _downloaded_file(info: dict[str, Any], folder: Path) -> Path | None:
    for item in info.get("requested_downloads") or []:
        candidate = item.get("filepath")
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    return max(files, key=lambda p: p.stat().st_size) if files else None


def download_youtube(
    url: str,
    settings: Settings,
    workdir: str | os.PathLike[str],
    start_s: float | None = None,
    end_s: float | None = None,
    progress: ProgressFn = no_progress,
    factory: YoutubeDLFactory | None = None,
) -> tuple[Path, list[str]]:
    """Download one YouTube video (<=720p, H.264 mp4 preferred; only the chosen window) into a new folder
    under `workdir`. Returns the file and the sentences describing any cut. On failure nothing is left behind."""
    video_id = youtube_video_id(url)
    from yt_dlp.utils import YoutubeDLError, download_range_func

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"youtube-{video_id}-", dir=workdir))

    def hook(status: dict[str, Any]) -> None:
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        progress("download", int(status.get("downloaded_bytes") or 0), int(total) if total else None)

    options: dict[str, Any] = {
        "format": YOUTUBE_FORMAT,
        "format_sort": ["res:720", "vcodec:h264", "ext:mp4:m4a"],
        "merge_output_format": "mp4",
        "noplaylist": True,
        "max_filesize": int(settings.max_upload_mb * (1 << 20)) if settings.max_upload_mb else None,
        "paths": {"home": str(folder), "temp": str(folder)},
        "outtmpl": {"default": "%(id)s.%(ext)s"},
        "ffmpeg_location": ffmpeg_exe(),
        "socket_timeout": 20,
        "retries": 3,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "progress_hooks": [hook],
    }
    try:
        try:
            with (factory or _default_factory)(options) as ydl:
                info = ydl.extract_info(canonical_youtube_url(video_id), download=False)
                if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
                    raise VideoError(f"Live streams cannot be processed. {UPLOAD_INSTEAD}")
                duration = info.get("duration")
                window, caps = _youtube_window(float(duration) if duration else None, start_s, end_s, settings)
                if window is not None:
                    ydl.params["download_ranges"] = download_range_func(None, [window])
                    ydl.params["force_keyframes_at_cuts"] = True  # exact cut (re-encodes only the window)
                info = ydl.process_ie_result(info, download=True)
        except YoutubeDLError as exc:
            raise VideoError(explain_youtube_error(str(exc))) from exc
        path = _downloaded_file(info or {}, folder)
        if path is None:
            limit = f" (the limit is {settings.max_upload_mb:g} MB)" if settings.max_upload_mb else ""
            raise VideoError(f"YouTube did not deliver a video file; it may be too large{limit}. {UPLOAD_INSTEAD}")
        for leftover in folder.iterdir():  # partial fragments, thumbnails, separate streams already merged
            if leftover != path:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path, caps


def open_youtube(
    url: str,
    settings: Settings,
    workdir: str | os.PathLike[str],
    start_s: float | None = None,
    end_s: float | None = None,
    progress: ProgressFn = no_progress,
    factory: YoutubeDLFactory | None = None,
) -> Clip:
    """Download (window only) and open a YouTube video as a Clip; the download's cuts lead its caps."""
    path, caps = download_youtube(url, settings, workdir, start_s, end_s, progress, factory)
    try:
        clip = open_clip(path, settings, source="youtube")
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    # the window was cut by the download, so open_clip's own duration sentence would repeat it
    cut_by_download = any(c.startswith("Trimmed to") for c in caps)
    own = tuple(c for c in clip.caps_applied if not (cut_by_download and c.startswith("Trimmed to")))
    return dataclasses.replace(clip, caps_applied=(*caps, *own))


# ---------------------------------------------------------------------------------------- dispatcher


def resolve_source(
    source: str | os.PathLike[str],
    settings: Settings,
    workdir: str | os.PathLike[str] | None = None,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    frames_fps: float = DEFAULT_FRAMES_FPS,
    progress: ProgressFn = no_progress,
) -> Clip:
    """A link, video file, or folder/zip of frames -> validated Clip. Downloads go to `workdir`
    (default: <output_dir>/downloads); the caller deletes them when the run is over."""
    if isinstance(source, str) and looks_like_url(source):
        target = Path(workdir) if workdir is not None else Path(settings.output_dir) / "downloads"
        return open_youtube(source, settings, target, start_s, end_s, progress)
    path = Path(source)
    if path.is_dir() or path.suffix.lower() == ".zip":
        return open_frames(path, settings, fps=frames_fps, start_s=start_s, end_s=end_s)
    return open_upload(path, settings, start_s=start_s, end_s=end_s)
