"""The run cache key: content of clip, weights and boxes, and only the settings that change the output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lart_demo.config import Settings
from lart_demo.models.lart import write_random_lart
from lart_demo.pipeline.cache import cache_key, output_settings, weights_identity
from lart_demo.weights.files import WeightFiles


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video, but the key only reads bytes")
    return path


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    root = tmp_path / "weights"
    write_random_lart(root, profile="tiny", seed=0)
    WeightFiles(root).random_marker.write_text("{}")
    return root


def test_replacing_weights_in_the_same_folder_changes_the_key(clip: Path, weights: Path) -> None:
    settings = Settings(weights_dir=weights)
    before = cache_key(clip, settings)
    assert cache_key(clip, settings) == before
    write_random_lart(weights, profile="tiny", seed=1)  # different random weights, same file names
    assert cache_key(clip, settings) != before


def test_same_size_same_mtime_is_hashed_once(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(weights_dir=weights)
    first = weights_identity(settings)
    assert WeightFiles(weights).lart_checkpoint.name in " ".join(first)
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    assert weights_identity(settings) == first
    assert opened == []  # memoised by (path, size, mtime)
    checkpoint = WeightFiles(weights).lart_checkpoint
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    weights_identity(settings)
    assert opened == [checkpoint.resolve()]


def test_only_settings_marked_as_changing_the_output_matter(clip: Path, weights: Path, tmp_path: Path) -> None:
    settings = Settings(weights_dir=weights)
    key = cache_key(clip, settings)
    assert cache_key(clip, settings.with_overrides(output_dir=tmp_path / "elsewhere", max_upload_mb=1.0)) == key
    marked = set(output_settings(settings))
    assert {"max_people", "detector_threshold", "render_style", "face_blur", "device"} <= marked
    assert not marked & {"weights_dir", "output_dir", "hf_repo", "max_upload_mb", "boxes_file"}
    for name, value in {"max_people": 3, "detector_threshold": 0.5, "render_style": "mesh", "face_blur": True}.items():
        assert cache_key(clip, settings.with_overrides(**{name: value})) != key, name


def test_request_range_render_and_clip_content_matter(clip: Path, weights: Path) -> None:
    settings = Settings(weights_dir=weights)
    key = cache_key(clip, settings)
    assert cache_key(clip, settings, start_s=1.0) != key
    assert cache_key(clip, settings, end_s=2.0) != key
    assert cache_key(clip, settings, render=False) != key
    clip.write_bytes(clip.read_bytes() + b"!")
    assert cache_key(clip, settings) != key


def test_boxes_file_enters_by_content(clip: Path, weights: Path, tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text('{"frames": {}}')
    settings = Settings(weights_dir=weights, boxes_file=boxes)
    key = cache_key(clip, settings)
    boxes.write_text('{"frames": {"0": []}}')
    assert cache_key(clip, settings) != key
