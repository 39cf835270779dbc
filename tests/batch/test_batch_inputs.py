"""Expanding batch INPUTs: videos, folders (recursive), .txt lists with paths and YouTube links."""

from __future__ import annotations

from pathlib import Path

import pytest

from lart_demo.batch.inputs import content_digest, expand_inputs, folder_name
from lart_demo.pipeline.cache import file_sha256


def touch(path: Path, data: bytes = b"video bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_folder_is_searched_recursively_for_videos_in_name_order(tmp_path: Path) -> None:
    touch(tmp_path / "v" / "b.mp4")
    touch(tmp_path / "v" / "a.MOV")
    touch(tmp_path / "v" / "deep" / "er" / "c.webm")
    touch(tmp_path / "v" / "notes.txt")  # inside a folder a .txt is not a list: only videos are picked up
    touch(tmp_path / "v" / "image.png")
    touch(tmp_path / "v" / ".hidden.mp4")
    touch(tmp_path / "v" / ".cache" / "d.mp4")
    items = expand_inputs([str(tmp_path / "v")])
    assert [Path(i.label).relative_to(tmp_path / "v").as_posix() for i in items] == ["a.MOV", "b.mp4", "deep/er/c.webm"]
    assert all(i.error is None and Path(i.source).is_absolute() for i in items)


def test_result_folders_are_never_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "v" / "a.mp4")
    touch(tmp_path / "v" / "results" / "a-123" / "render.mp4")
    monkeypatch.chdir(tmp_path)  # relative INPUT and --out
    items = expand_inputs(["v"], exclude=Path("v/results"))
    assert [Path(i.source).name for i in items] == ["a.mp4"]
    # --out is the input folder itself: its videos count, the result folders written into it do not
    touch(tmp_path / "v" / "a-123" / "render.mp4")
    assert [Path(i.source).name for i in expand_inputs(["v"], exclude=Path("v"))] == ["a.mp4"]


def test_a_list_holds_paths_relative_to_itself_links_and_comments(tmp_path: Path) -> None:
    touch(tmp_path / "data" / "x.mp4")
    touch(tmp_path / "data" / "more" / "y.mkv")
    other = touch(tmp_path / "elsewhere" / "z.avi")
    listing = tmp_path / "data" / "list.txt"
    listing.write_text(
        "# my videos\n\nx.mp4\n  more  \n"
        f"{other}\n"
        "https://youtu.be/dQw4w9WgXcQ\n"
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3\n"  # the same video: listed once
        "https://vimeo.com/1234\n"
        "missing.mp4\n"
        "x.mp4\n",  # duplicate
        encoding="utf-8",
    )
    items = expand_inputs([str(listing)])
    assert [(Path(i.source).name if not i.youtube_id else i.source) for i in items if i.error is None] == [
        "x.mp4",
        "y.mkv",
        "z.avi",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ]
    errors = {i.label: i.error for i in items if i.error}
    assert "YouTube" in errors["https://vimeo.com/1234"]
    assert errors[str(tmp_path / "data" / "missing.mp4")].endswith("is missing.")


def test_inputs_that_cannot_be_processed_carry_a_one_line_reason(tmp_path: Path) -> None:
    touch(tmp_path / "empty" / "readme.md")
    touch(tmp_path / "photo.jpg")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00bad")
    loop = tmp_path / "loop.txt"
    loop.write_text("loop.txt\n", encoding="utf-8")
    items = expand_inputs(
        [str(tmp_path / "nope.mp4"), str(tmp_path / "empty"), str(tmp_path / "photo.jpg"), str(tmp_path / "binary.txt"),
         str(loop), "https://www.youtube.com/playlist?list=PL0123456789"]
    )  # fmt: skip
    reasons = [i.error for i in items]
    assert len(reasons) == 5  # the self-including list adds nothing and no error
    assert all(r and "\n" not in r for r in reasons)
    assert "missing" in reasons[0]
    assert "no video files" in reasons[1]
    assert "neither a video" in reasons[2]
    assert "UTF-8" in reasons[3]
    assert "Playlists" in reasons[4]


def test_result_folder_names_are_safe_stable_and_tell_apart_same_names(tmp_path: Path) -> None:
    a = expand_inputs([str(touch(tmp_path / "one" / "My clip (final)!.mp4", b"a"))])[0]
    b = expand_inputs([str(touch(tmp_path / "two" / "My clip (final)!.mp4", b"b"))])[0]
    name_a = folder_name(a, content_digest(a))
    assert name_a == folder_name(a, content_digest(a))
    assert name_a.startswith("My_clip_final-") and name_a != folder_name(b, content_digest(b))
    link = expand_inputs(["https://youtu.be/dQw4w9WgXcQ"])[0]
    assert folder_name(link, content_digest(link)).startswith("youtube-dQw4w9WgXcQ-")
    assert content_digest(a) == file_sha256(tmp_path / "one" / "My clip (final)!.mp4")
