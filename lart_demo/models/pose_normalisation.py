"""mean_std.npy: the statistics that normalise PHALP's and LART's 229-d pose vectors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lart_demo.errors import WeightsError
from lart_demo.safe_load import MEAN_STD, load_npy

POSE_DIM = 229  # [global_orient 9 | body_pose 207 | betas 10 | Tx, Ty, tz/200]


@dataclass(frozen=True)
class PoseNormalisation:
    """mean/std of the 229-d pose vector; mean_std.npy's (1, D <= 229) padded with 0 / 1 (camera not normalised)."""

    mean: np.ndarray  # (229,) float32
    std: np.ndarray  # (229,) float32


def normalisation_from_mean_std(mean_std: object, source: str = "mean_std") -> PoseNormalisation:
    """From the content of mean_std.npy: `(mean, std)`, each `(1, D)` or `(D,)`, with D <= 229."""
    if isinstance(mean_std, PoseNormalisation):
        return mean_std
    try:
        mean, std = (np.asarray(a, dtype=np.float64).reshape(-1) for a in mean_std)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{source} must hold (mean, std), got {type(mean_std).__name__}: {exc}") from exc
    if mean.shape != std.shape or mean.size > POSE_DIM:
        raise WeightsError(f"{source} holds mean {mean.shape} and std {std.shape}; both must be (D<={POSE_DIM},).")
    pad = POSE_DIM - mean.size
    mean = np.concatenate([mean, np.zeros(pad)]).astype(np.float32)
    std = np.concatenate([std, np.ones(pad)]).astype(np.float32)
    return PoseNormalisation(mean=mean, std=std)


def read_mean_std(path: str | Path) -> PoseNormalisation:
    """mean_std.npy: a float array (2, 1, D) or a pickled pair of arrays (read through its allow-list)."""
    path = Path(path)
    return normalisation_from_mean_std(load_npy(path, MEAN_STD), path.name)
