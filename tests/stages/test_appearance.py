"""Appearance stage: LART's clip sampling geometry, streaming == direct per-chunk computation, bounded memory."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from track_factory import lart_track

from lart_demo.errors import VideoError
from lart_demo.models.mvit import TINY_MVIT_YAML, MViT, load_mvit, mvit_config_from_dict, write_random_mvit
from lart_demo.stages.appearance import (
    AppearanceConfig,
    AppearanceExtractor,
    TrackBoxes,
    aspect_crop,
    compute_appearance,
    model_box,
    normalize_clips,
    plan_track_chunks,
    preprocess_frame,
    short_side_size,
    to_model_channels,
    window_offsets,
    with_appearance,
)
from lart_demo.weights.files import WeightFiles

N_FRAMES, HEIGHT, WIDTH = 60, 72, 128


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MViT:
    files = WeightFiles(tmp_path_factory.mktemp("mvit"))
    write_random_mvit(files.root, "tiny", seed=1)
    return load_mvit(files.mvit_checkpoint, files.mvit_config)


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for t in range(N_FRAMES):
        base = np.stack([(xx * 2 + t * 3) % 256, (yy * 3 + t) % 256, (xx + yy + 5 * t) % 256], axis=-1)
        frames.append(np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def _track(fids: np.ndarray, seed: int) -> TrackBoxes:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 60, size=(len(fids), 2))
    wh = rng.uniform(10, 60, size=(len(fids), 2))
    return TrackBoxes(fid=fids, frame_bbox=np.concatenate([xy, wh], axis=1))


@pytest.fixture(scope="module")
def tracks() -> dict[int, TrackBoxes]:
    return {
        1: _track(np.arange(0, 40), 1),
        2: _track(np.arange(10, 23), 2),  # 13 frames: the last chunk has a single frame
        5: _track(np.arange(50, 54), 3),  # shorter than one chunk
        7: _track(np.arange(20, 58, 2), 4),  # frame gaps: the window spans more video frames
    }


def _direct(video: np.ndarray, track: TrackBoxes, model: MViT) -> dict[str, np.ndarray]:
    """One clip at a time from frames held in memory: the straightforward reading of add_slowfast_features."""
    cfg = model.config
    n = len(track.fid)
    out = {
        "embedding": np.zeros((n, 1, model.feature_dim), np.float32),
        "action_logits": np.zeros((n, 1, cfg.num_classes), np.float32),
        "chunk_index": np.zeros((n, 1, 1), np.int64),
    }
    for plan in plan_track_chunks(track.frame_bbox, cfg):
        frames = np.stack([preprocess_frame(video[track.fid[i]], cfg.crop_size) for i in plan.sampled])
        clip = normalize_clips(torch.from_numpy(frames[None]), cfg.mean, cfg.std)
        box = torch.from_numpy(np.concatenate([[0.0], model_box(plan.box_xyxy, video.shape[1:3], cfg.crop_size)]))
        with torch.no_grad():
            preds, feats = model(clip, box[None].float())
        out["embedding"][plan.start : plan.end, 0] = feats[0].numpy()
        out["action_logits"][plan.start : plan.end, 0] = preds[0].numpy()
        out["chunk_index"][plan.start : plan.end] = plan.index * 1000
    return out


@pytest.mark.parametrize("batch_size", [1, 5])
def test_streaming_equals_direct_per_chunk(
    video: np.ndarray, tracks: dict[int, TrackBoxes], model: MViT, batch_size: int
) -> None:
    calls: list[tuple[str, int, int | None]] = []
    result = compute_appearance(
        enumerate(video),
        tracks,
        model,
        AppearanceConfig(batch_size=batch_size),
        lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert sorted(result) == sorted(tracks)
    for tid, track in tracks.items():
        expected = _direct(video, track, model)
        got = result[tid]
        assert got.embedding.shape == (len(track.fid), 1, model.feature_dim)
        assert got.embedding.dtype == np.float32
        np.testing.assert_allclose(got.embedding, expected["embedding"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got.action_logits, expected["action_logits"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got.chunk_index, expected["chunk_index"])
    n_clips = sum(len(plan_track_chunks(t.frame_bbox, model.config)) for t in tracks.values())
    assert calls[0] == ("appearance", 0, n_clips) and calls[-1] == ("appearance", n_clips, n_clips)


def test_frames_buffered_stay_within_one_clip_window(video: np.ndarray, model: MViT) -> None:
    contiguous = {
        i: _track(np.arange(start, start + length), i) for i, (start, length) in enumerate([(0, 60), (5, 50)])
    }
    extractor = AppearanceExtractor(contiguous, model, AppearanceConfig(batch_size=1000))
    window = len(window_offsets(model.config.seq_length))
    for index, frame in enumerate(video):
        extractor.push(index, frame)
        assert extractor.buffered <= window
    extractor.finish()
    assert 0 < extractor.peak_buffered <= window
    assert extractor.buffered == 0


def test_reading_stops_after_the_last_needed_frame(video: np.ndarray, model: MViT) -> None:
    consumed = []

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in enumerate(video):
            consumed.append(index)
            yield index, frame

    track = _track(np.arange(0, 8), 9)
    compute_appearance(frames(), {0: track}, model)
    assert max(consumed) <= 8


def test_a_video_shorter_than_its_tracks_is_an_error(video: np.ndarray, model: MViT) -> None:
    with pytest.raises(VideoError, match="ended before"):
        compute_appearance(enumerate(video[:30]), {0: _track(np.arange(20, 45), 0)}, model)


def test_typed_tracks_get_their_appearance(video: np.ndarray, model: MViT) -> None:
    boxes = _track(np.arange(3, 15), 6)
    n = len(boxes.fid)
    track = lart_track(4, np.zeros((n, 229)), np.zeros((n, 45, 3)), np.zeros((n, 3)), np.ones(n), boxes.fid)
    track = replace(track, boxes_tlwh=boxes.frame_bbox)
    a = compute_appearance(enumerate(video), {4: boxes}, model)[4]
    b = compute_appearance(enumerate(video), {4: track}, model)
    np.testing.assert_array_equal(a.embedding, b[4].embedding)
    (filled,) = with_appearance({4: track}, b).values()
    assert filled.appearance.shape == (n, model.feature_dim) and track.appearance is None
    np.testing.assert_array_equal(filled.appearance, a.embedding[:, 0])


def test_aspect_crop_and_resize_geometry() -> None:
    # mvit_spec.md §5: a 1280x720 frame is cropped by 208 px per side to 864x720, then resized to 374x312.
    assert aspect_crop(720, 1280) == (208, 0, 1072, 720)
    assert short_side_size(720, 864, 312) == (312, 374)
    np.testing.assert_allclose(
        model_box(np.array([308, 100, 408, 500]), (720, 1280), 312),
        np.array([100, 100, 200, 500]) * 374 / 864,
        rtol=1e-6,
    )
    # portrait: rows are cropped to h = w / 0.8; near-square frames are left alone
    assert aspect_crop(1280, 720) == (0, 190, 720, 1090)
    assert aspect_crop(300, 330) == (0, 0, 330, 300)
    assert preprocess_frame(np.zeros((720, 1280, 3), np.uint8), 312).shape == (312, 374, 3)


def test_plan_clamps_the_window_to_the_track(model: MViT) -> None:
    cfg = model.config
    plans = plan_track_chunks(np.tile([[1.7, 2.2, 10.9, 20.5]], (8, 1)), cfg)
    assert [(p.start, p.end, p.mid) for p in plans] == [(0, 6, 3), (6, 8, 7)]
    for p in plans:
        assert p.window.min() >= 0 and p.window.max() <= 7
        assert len(p.window) == len(window_offsets(cfg.seq_length)) and len(p.sampled) == cfg.num_frames
    np.testing.assert_array_equal(plans[0].box_xyxy, [1, 2, 11, 22])  # int() of x, y, w, h, then x + w, y + h


def test_input_format_rgb_feeds_bgr_like_upstream() -> None:
    raw = copy.deepcopy(TINY_MVIT_YAML)
    raw["DEMO"] = {"INPUT_FORMAT": "RGB"}
    frame = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(to_model_channels(frame, mvit_config_from_dict(raw)), frame[..., ::-1])
    np.testing.assert_array_equal(to_model_channels(frame, mvit_config_from_dict(TINY_MVIT_YAML)), frame)


def test_weights_dir_layout(tmp_path: Path) -> None:
    paths = write_random_mvit(tmp_path, "tiny")
    files = WeightFiles(tmp_path)
    assert paths == [files.mvit_config, files.mvit_checkpoint]
    assert all(p.is_file() for p in paths)


def test_tracks_starting_on_the_same_frame_share_backbone_passes(video: np.ndarray, model: MViT) -> None:
    same_start = {tid: _track(np.arange(3, 40), seed=10 + tid) for tid in (1, 2, 3)}
    extractor = AppearanceExtractor(same_start, model, AppearanceConfig(batch_size=2))
    for index, frame in enumerate(video):
        extractor.push(index, frame)
    result = extractor.finish()
    clips_per_track = len(plan_track_chunks(same_start[1].frame_bbox, model.config))
    assert extractor.total_clips == 3 * clips_per_track
    assert extractor.backbone_passes == clips_per_track  # a third of the clips
    for tid, track in same_start.items():  # each track still gets the features of its own boxes
        expected = _direct(video, track, model)
        np.testing.assert_allclose(result[tid].embedding, expected["embedding"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result[tid].action_logits, expected["action_logits"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(result[1].embedding, result[2].embedding)


def test_out_of_memory_halves_the_batch_and_keeps_results(
    video: np.ndarray, tracks: dict[int, TrackBoxes], model: MViT, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = compute_appearance(enumerate(video), tracks, model, AppearanceConfig(batch_size=1))
    real = model.forward_features
    sizes: list[int] = []

    def limited(clip: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        sizes.append(clip.shape[0])
        if clip.shape[0] > 2:  # a device that holds two clips at most
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 5.60 GiB")
        return real(clip, *args, **kwargs)

    monkeypatch.setattr(model, "forward_features", limited)
    extractor = AppearanceExtractor(tracks, model, AppearanceConfig(batch_size=8))
    for index, frame in enumerate(video):
        extractor.push(index, frame)
    result = extractor.finish()
    assert max(sizes) > 2 and extractor._batch_runner().size == 2  # halved 8 -> 4 -> 2, and stays there
    for tid in tracks:
        np.testing.assert_allclose(result[tid].embedding, expected[tid].embedding, rtol=1e-5, atol=1e-5)


def test_cancel_is_checked_inside_a_backbone_pass_on_cpu(video: np.ndarray, model: MViT) -> None:
    class Stop(Exception):
        pass

    calls: list[int] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        calls.append(done)
        if len(calls) == 3:  # the 0/N start report, then two reports inside the first clip's pass: cancel there
            raise Stop

    extractor = AppearanceExtractor({1: _track(np.arange(0, 30), 1)}, model, AppearanceConfig(batch_size=1), progress)
    with pytest.raises(Stop):
        for index, frame in enumerate(video):
            extractor.push(index, frame)
        extractor.finish()
    assert extractor.done_clips == 0 and extractor.backbone_passes == 0  # stopped inside the first clip


def test_batch_size_comes_from_free_memory(video: np.ndarray, model: MViT, monkeypatch: pytest.MonkeyPatch) -> None:
    from lart_demo.stages import appearance

    x0, y0, x1, y1 = aspect_crop(HEIGHT, WIDTH)
    per_clip = appearance.clip_bytes(model.config, short_side_size(y1 - y0, x1 - x0, model.config.crop_size))
    monkeypatch.setattr(appearance, "available_bytes", lambda device: 6 * per_clip)
    monkeypatch.setitem(appearance.MAX_CLIPS_PER_BATCH, "cpu", 8)  # as on a GPU
    extractor = AppearanceExtractor({1: _track(np.arange(0, 30), 1)}, model)
    extractor.push(0, video[0])
    assert extractor._batch_runner().size == 3  # half of the free memory, as whole clips
    monkeypatch.setitem(appearance.MAX_CLIPS_PER_BATCH, "cpu", 1)
    extractor = AppearanceExtractor({1: _track(np.arange(0, 30), 1)}, model)
    extractor.push(0, video[0])
    assert extractor._batch_runner().size == 1  # CPU: one clip at a time whatever is free
