"""A folder or zip of images -> the same `Clip` interface as a video (frames in natural name order).

Images are read straight from the folder or the zip (nothing is extracted, so nothing is left
behind), decoded one at a time, EXIF orientation applied, and converted to RGB uint8.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lart_demo.config import Settings
from lart_demo.contracts import Clip
from lart_demo.errors import InputError, VideoError
from lart_demo.video.io import MIN_SHORT_SIDE, plan_clip

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FRAMES_FPS = 30.0
MAX_IMAGE_BYTES = 256 << 20  # one unpacked image; guards against zip bombs
MAX_IMAGES = 20_000  # a 10-minute clip at 30 fps; more is a mistake (or a zip bomb), not a clip


def natural_key(name: str) -> list[object]:
    """Sort key that puts 'frame2' before 'frame10' (digits compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _is_image_name(name: str) -> bool:
    pure = PurePosixPath(name)
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in pure.parts)
    return not hidden and pure.suffix.lower() in IMAGE_EXTENSIONS


class _ImageSource:
    """Lists and opens the images of a folder (top level) or a zip (any depth)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = path.is_file()
        if self.is_zip:
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [info for info in archive.infolist() if not info.is_dir()]
            except (zipfile.BadZipFile, OSError) as exc:
                raise VideoError(
                    f"'{path.name}' is not a readable zip file ({exc}). Please zip the frames again."
                ) from exc
            huge = [m.filename for m in members if _is_image_name(m.filename) and m.file_size > MAX_IMAGE_BYTES]
            if huge:
                raise VideoError(f"'{huge[0]}' in '{path.name}' is larger than {MAX_IMAGE_BYTES >> 20} MB unpacked.")
            names = [m.filename for m in members]
        else:
            names = [entry.name for entry in path.iterdir() if entry.is_file()]
        self.names = sorted((n for n in names if _is_image_name(n)), key=natural_key)

    def open_image(self, name: str) -> Image.Image:
        try:
            if self.is_zip:
                with zipfile.ZipFile(self.path) as archive:
                    data = archive.read(name)
                image = Image.open(io.BytesIO(data))
            else:
                image = Image.open(self.path / name)
            image.load()
        except (UnidentifiedImageError, OSError, zipfile.BadZipFile, KeyError) as exc:
            raise VideoError(f"The image '{name}' in '{self.path.name}' cannot be read; it may be damaged.") from exc
        return image

    def size_of(self, name: str) -> tuple[int, int]:
        """Upright (w, h) from the header only (EXIF orientation 5-8 swaps the sides)."""
        try:
            if self.is_zip:
                with zipfile.ZipFile(self.path) as archive, archive.open(name) as handle:
                    image = Image.open(io.BytesIO(handle.read()))
            else:
                image = Image.open(self.path / name)
            with image:
                orientation = image.getexif().get(0x0112, 1)
                w, h = image.size
        except (UnidentifiedImageError, OSError, zipfile.BadZipFile) as exc:
            raise VideoError(f"The image '{name}' in '{self.path.name}' cannot be read; it may be damaged.") from exc
        return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


class _ImageFrameReader:
    def __init__(self, images: _ImageSource, plan_indices: np.ndarray, size: tuple[int, int], source_size) -> None:
        self.images = images
        self.plan = plan_indices
        self.size = size
        self.source_size = source_size

    def _load(self, name: str) -> np.ndarray:
        image = ImageOps.exif_transpose(self.images.open_image(name)).convert("RGB")
        if image.size != self.source_size:
            raise VideoError(
                f"The image '{name}' is {image.size[0]}×{image.size[1]} but the first frame is "
                f"{self.source_size[0]}×{self.source_size[1]}; all frames must have the same size."
            )
        array = np.asarray(image, dtype=np.uint8)
        if self.size != self.source_size:
            array = cv2.resize(array, self.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(array)

    def iter_frames(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        last_index, last = -1, None
        for k in range(start, stop):
            index = int(self.plan[k])
            if index == last_index and last is not None:
                yield k, last.copy()
                continue
            last_index, last = index, self._load(self.images.names[index])
            yield k, last


def open_frames(
    path: str | os.PathLike[str],
    settings: Settings,
    fps: float = DEFAULT_FRAMES_FPS,
    start_s: float | None = None,
    end_s: float | None = None,
    source: str = "frames",
) -> Clip:
    """A folder or .zip of images as a Clip at `fps` (the images carry no timing), caps applied and reported."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"'{path.name}' does not exist. Please choose the frames folder or zip again.")
    if path.is_file() and path.suffix.lower() != ".zip":
        raise InputError(f"'{path.name}' is neither a folder nor a .zip of images.")
    if not (0 < fps <= 300):
        raise InputError(f"The frame rate for image frames must be between 0 and 300 fps (got {fps}).")
    images = _ImageSource(path)
    if not images.names:
        kinds = ", ".join(IMAGE_EXTENSIONS)
        raise VideoError(f"'{path.name}' contains no images ({kinds}). Please add the frames as image files.")
    if len(images.names) > MAX_IMAGES:
        raise VideoError(f"'{path.name}' holds {len(images.names)} images; at most {MAX_IMAGES} are accepted.")
    source_size = images.size_of(images.names[0])
    if min(source_size) < MIN_SHORT_SIDE:
        raise VideoError(
            f"The frames are only {source_size[0]}×{source_size[1]} pixels; people cannot be recognised that small. "
            f"Please use frames at least {MIN_SHORT_SIDE} pixels on their short side."
        )
    n_images = len(images.names)
    times = np.arange(n_images, dtype=np.float64) / fps
    plan = plan_clip(times, fps, n_images / fps, source_size, settings, start_s, end_s)
    return Clip(
        path=path,
        source=source,
        fps=plan.fps,
        n_frames=len(plan.source_indices),
        size=plan.size,
        start_s=plan.start_s,
        source_fps=float(fps),
        source_size=source_size,
        source_duration_s=n_images / fps,
        has_audio=False,
        caps_applied=plan.caps_applied,
        notes=(*plan.notes, f"{n_images} images shown at {fps:g} fps, in natural name order."),
        reader=_ImageFrameReader(images, plan.source_indices, plan.size, source_size),
    )
