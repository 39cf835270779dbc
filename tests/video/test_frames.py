"""A folder or zip of images behaves like a video clip (natural order, fps argument, caps, errors)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from video_helpers import read_frame

from lart_demo.config import Settings
from lart_demo.errors import InputError, VideoError
from lart_demo.video.frames import natural_key, open_frames
from lart_demo.video.io import iter_frames


def numbered_image(i: int, size: tuple[int, int] = (96, 80)) -> np.ndarray:
    """An image whose top-left pixel encodes its number, the rest a gradient."""
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 1] = np.arange(w, dtype=np.uint8)[None, :]
    image[..., 0] = i
    return image


def write_frames(folder: Path, count: int, pattern: str = "frame{}.png", size: tuple[int, int] = (96, 80)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(numbered_image(i, size)).save(folder / pattern.format(i + 1))
    return folder


def test_natural_key_orders_numbers_as_numbers() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame1b.png"]
    assert sorted(names, key=natural_key) == ["Frame1.png", "frame1b.png", "frame2.png", "frame10.png"]


def test_folder_in_natural_order_at_the_given_fps(tmp_path: Path) -> None:
    folder = write_frames(tmp_path / "shots", 12)  # frame1 .. frame12: a plain sort would put frame10 second
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"junk")
    clip = open_frames(folder, Settings(), fps=6)
    assert (clip.n_frames, clip.fps, clip.size, clip.source) == (12, 6, (96, 80), "frames")
    assert clip.duration_s == pytest.approx(2.0)
    frames = list(iter_frames(clip))
    assert [k for k, _ in frames] == list(range(12))
    assert [int(f[0, 0, 0]) for _, f in frames] == list(range(12))
    assert all(np.array_equal(f, numbered_image(k)) for k, f in frames)  # PNG is lossless
    assert np.array_equal(read_frame(clip, 9), numbered_image(9))


def test_zip_with_a_top_folder_and_mac_junk(tmp_path: Path) -> None:
    folder = write_frames(tmp_path / "src", 5, "img_{}.png")
    archive = tmp_path / "frames.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir(), reverse=True):  # stored out of order on purpose
            zf.write(path, f"my_clip/{path.name}")
        zf.writestr("__MACOSX/my_clip/._img_1.png", b"resource fork")
        zf.writestr("my_clip/readme.txt", "hello")
    before = sorted(tmp_path.rglob("*"))
    clip = open_frames(archive, Settings(), fps=25)
    assert clip.n_frames == 5
    assert [int(f[0, 0, 0]) for _, f in iter_frames(clip)] == [0, 1, 2, 3, 4]
    assert sorted(tmp_path.rglob("*")) == before  # read in place: nothing extracted


def test_caps_apply_to_frames_too(tmp_path: Path) -> None:
    folder = write_frames(tmp_path / "big", 20, size=(200, 100))
    settings = Settings(max_side=100, max_duration_s=1.0, processing_fps=5)
    clip = open_frames(folder, settings, fps=10)  # 2 s of frames at 10 fps
    assert clip.size == (100, 50) and clip.fps == 5 and clip.n_frames == 5
    assert clip.caps_applied == (
        "Trimmed to the first 1 s (of 2 s); the limit is 1 s.",
        "Resampled from 10 fps to 5 fps (processing fps setting).",
        "Downscaled from 200×100 to 100×50 (longest side limited to 100 px).",
    )
    assert [int(f[0, 0, 0]) for _, f in iter_frames(clip)] == [0, 2, 4, 6, 8]
    assert read_frame(clip, 1).shape == (50, 100, 3)


def test_start_and_end_in_seconds(tmp_path: Path) -> None:
    clip = open_frames(write_frames(tmp_path / "f", 10), Settings(), fps=10, start_s=0.3, end_s=0.6)
    assert [int(f[0, 0, 0]) for _, f in iter_frames(clip)] == [3, 4, 5]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    folder.mkdir()
    image = Image.fromarray(numbered_image(0, (96, 80)))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(folder / "IMG_0001.jpg", exif=exif.tobytes())
    clip = open_frames(folder, Settings(), fps=30)
    assert clip.size == (80, 96)
    assert read_frame(clip, 0).shape == (96, 80, 3)


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match=r"'empty' contains no images \(\.jpg, \.jpeg, \.png"):
        open_frames(tmp_path / "empty", Settings())
    with pytest.raises(VideoError, match=r"The frames are only 48×40 pixels; people cannot be recognised"):
        open_frames(write_frames(tmp_path / "small", 3, size=(48, 40)), Settings())
    mixed = write_frames(tmp_path / "mixed", 3)
    Image.fromarray(numbered_image(9, (128, 80))).save(mixed / "frame4.png")
    clip = open_frames(mixed, Settings())
    with pytest.raises(VideoError, match=r"The image 'frame4.png' is 128×80 but the first frame is 96×80"):
        list(iter_frames(clip))
    broken = write_frames(tmp_path / "broken", 2)
    (broken / "frame3.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(VideoError, match=r"The image 'frame3.png' in 'broken' cannot be read; it may be damaged\."):
        list(iter_frames(open_frames(broken, Settings())))
    (tmp_path / "bad.zip").write_bytes(b"PK but not a zip")
    with pytest.raises(VideoError, match=r"'bad.zip' is not a readable zip file"):
        open_frames(tmp_path / "bad.zip", Settings())
    with pytest.raises(InputError, match=r"between 0 and 300 fps"):
        open_frames(mixed, Settings(), fps=0)
