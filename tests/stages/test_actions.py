"""Windowed LART inference over tracks: window plan, batching equality, outputs, loading."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from track_factory import lart_track

from lart_demo.config import Settings
from lart_demo.contracts import Track
from lart_demo.errors import InputError, ModelError, WeightsError
from lart_demo.models.lart import LART, build_lart, randomise_weights, tiny_lart_config, write_random_lart
from lart_demo.models.pose_normalisation import normalisation_from_mean_std, read_mean_std
from lart_demo.stages.actions import load_action_models, plan_windows, predict_actions, window_masks
from lart_demo.weights.files import WeightFiles

APP_DIM = 24


def _track(length: int, rng: np.random.Generator, gaps: tuple[int, ...] = ()) -> Track:
    has = np.ones((length, 1, 1))
    has[list(gaps)] = 0
    pose = rng.normal(size=(length, 1, 229)) * has.reshape(length, 1, 1)
    return lart_track(
        0,
        pose_shape=pose,
        joints_3d=rng.normal(size=(length, 1, 45, 3)) * has.reshape(length, 1, 1, 1),
        camera=rng.normal(size=(length, 1, 3)),
        has_detection=has,
        frame_index=np.arange(10, 10 + length),
        appearance=np.repeat(rng.normal(size=(length // 6 + 1, 1, APP_DIM)), 6, axis=0)[:length].astype(np.float32),
    )


@pytest.fixture(scope="module")
def model() -> LART:
    lart = build_lart(tiny_lart_config(APP_DIM))
    randomise_weights(lart, seed=0)
    return lart.eval()


@pytest.fixture(scope="module")
def mean_std() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([rng.normal(size=(1, 226)), rng.uniform(0.5, 1.5, size=(1, 226))])


def test_plan_windows() -> None:
    spans = plan_windows(150)
    assert [(s.step_start, s.start, s.end, s.kept, s.kept_slot) for s in spans] == [
        (0, 0, 64, 32, 0),
        (32, 0, 96, 32, 32),
        (64, 32, 128, 32, 32),
        (96, 64, 150, 32, 32),
        (128, 96, 150, 22, 32),
    ]
    assert [(s.start, s.end, s.kept) for s in plan_windows(1)] == [(0, 1, 1)]
    assert [(s.start, s.end, s.kept) for s in plan_windows(33)] == [(0, 33, 32), (0, 33, 1)]
    for length in (1, 5, 31, 32, 64, 97, 300):
        covered = np.concatenate([np.arange(s.step_start, s.step_start + s.kept) for s in plan_windows(length)])
        assert covered.tolist() == list(range(length))


def test_window_masks() -> None:
    has = np.ones(40, bool)
    has[[3, 35]] = False
    masks = window_masks(has, plan_windows(40), 125)
    assert masks.shape == (2, 125)
    assert masks[0, :40].tolist() == (~has).tolist() and masks[0, 40:].all()


def test_batched_windows_equal_one_by_one(model: LART, mean_std: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    tracks = {
        1: _track(70, rng, gaps=(20, 21, 65)),
        4: _track(1, rng),
        9: _track(33, rng, gaps=(0,)),
        2: _track(97, rng, gaps=tuple(range(40, 60))),
    }
    batched = predict_actions(tracks, model, mean_std)  # all 10 windows in ONE encoder call
    chunked = predict_actions(tracks, model, mean_std, batch_windows=3)
    for tid, track in tracks.items():
        single = predict_actions({tid: track}, model, mean_std, batch_windows=1)[tid]  # the reference's loop
        for out in (batched[tid], chunked[tid]):
            for name in ("tokens", "logits", "probs", "pose_camera", "camera", "global_orient"):
                assert np.array_equal(getattr(out, name), getattr(single, name)), name
            assert out.top_labels == single.top_labels
    assert list(batched) == [1, 4, 9, 2]


def test_outputs(model: LART, mean_std: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    out = predict_actions({3: _track(70, rng, gaps=(5, 6, 40))}, model, mean_std)[3]
    assert out.probs.shape == (70, 60) and out.logits.shape == (70, 60)
    assert ((out.probs >= 0) & (out.probs <= 1)).all()
    np.testing.assert_allclose(out.probs, 1 / (1 + np.exp(-out.logits.astype(np.float64))), atol=1e-6)
    assert out.top_index.shape == (70, 3) and len(out.top_labels) == 70 and len(out.top_labels[0]) == 3
    assert (np.diff(out.top_prob, axis=1) <= 0).all()
    assert out.frame_index.tolist() == list(range(10, 80))
    assert np.flatnonzero(~out.has_detection).tolist() == [5, 6, 40]
    assert out.body_pose.shape == (70, 23, 3, 3) and out.global_orient.shape == (70, 1, 3, 3)
    np.testing.assert_allclose(out.camera[5], out.location[5] * [1, 1, 200], rtol=1e-6)
    rot = out.body_pose.reshape(-1, 3, 3)
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)


def test_gap_frame_inputs_do_not_matter(model: LART, mean_std: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    track = _track(50, rng, gaps=(10, 11))
    a = predict_actions({0: track}, model, mean_std)[0]
    track.pose_shape[10] = 5.0  # a frame without detection is a mask token whatever it holds
    b = predict_actions({0: track}, model, mean_std)[0]
    assert np.array_equal(a.tokens, b.tokens)


def test_bad_inputs(model: LART, mean_std: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    track = _track(10, rng)
    with pytest.raises(ModelError, match="appearance"):
        predict_actions({0: replace(track, appearance=np.zeros((10, APP_DIM + 1)))}, model, mean_std)
    with pytest.raises(InputError, match="appearance"):
        predict_actions({0: replace(track, appearance=None)}, model, mean_std)
    with pytest.raises(WeightsError):
        normalisation_from_mean_std(np.zeros((2, 1, 230)))
    assert predict_actions({}, model, mean_std) == {}


def test_mean_std_files(tmp_path: Path, mean_std: np.ndarray) -> None:
    np.save(tmp_path / "plain.npy", mean_std)
    norm = read_mean_std(tmp_path / "plain.npy")
    assert norm.mean.shape == (229,) and norm.std[226:].tolist() == [1, 1, 1] and norm.mean[226:].tolist() == [0, 0, 0]
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = mean_std[0], mean_std[1]
    np.save(tmp_path / "object.npy", pair, allow_pickle=True)
    assert np.array_equal(read_mean_std(tmp_path / "object.npy").std, norm.std)
    with (tmp_path / "evil.npy").open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(Path("x"), fh)
    with pytest.raises(WeightsError, match=r"Refused to load evil\.npy: it refers to pathlib"):
        read_mean_std(tmp_path / "evil.npy")


def test_load_action_models_from_random_weights(tmp_path: Path, mean_std: np.ndarray) -> None:
    write_random_lart(tmp_path, profile="tiny", appearance_dim=APP_DIM)
    files = WeightFiles(tmp_path)
    files.mean_std.parent.mkdir(parents=True, exist_ok=True)
    np.save(files.mean_std, mean_std)
    models = load_action_models(files, Settings(weights_dir=tmp_path, device="cpu"))
    out = predict_actions(
        {0: _track(40, np.random.default_rng(5))}, models.lart, models.normalisation, labels=models.labels
    )[0]
    assert out.probs.shape == (40, 60) and np.isfinite(out.probs).all()
