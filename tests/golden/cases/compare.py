"""Comparison helpers for golden cases: every failure names the output and the worst element."""

from __future__ import annotations

import numpy as np


def _as_np(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    return np.asarray(x)


def assert_rel(name: str, actual: object, expected: object, tol: float) -> None:
    """max |x - ref| / max(1, |ref|) <= tol (the golden READMEs' 'relative' check)."""
    a = _as_np(actual).astype(np.float64)
    e = _as_np(expected).astype(np.float64)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != reference {e.shape}"
    err = np.abs(a - e) / np.maximum(1.0, np.abs(e))
    worst = float(np.nanmax(err)) if err.size else 0.0
    assert not np.isnan(a).any() or np.isnan(e).any(), f"{name}: NaN where the reference has none"
    where = np.unravel_index(np.nanargmax(err), err.shape) if err.size else ()
    assert worst <= tol, f"{name}: max rel err {worst:.3g} > {tol:g} at {where}"


def assert_close(name: str, actual: object, expected: object, atol: float, rtol: float = 0.0) -> None:
    """|x - ref| <= atol + rtol * |ref| everywhere (NaNs must coincide)."""
    a = _as_np(actual).astype(np.float64)
    e = _as_np(expected).astype(np.float64)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != reference {e.shape}"
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    assert (nan_a == nan_e).all(), f"{name}: NaN positions differ"
    diff = np.where(nan_e, 0.0, np.abs(a - e))
    bound = atol + rtol * np.abs(np.where(nan_e, 0.0, e))
    bad = diff > bound
    if bad.any():
        idx = np.unravel_index(np.argmax(diff - bound), diff.shape)
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {diff.size} elements off (atol {atol:g}, rtol {rtol:g}); "
            f"worst at {idx}: {a[idx]!r} vs {e[idx]!r}"
        )


def assert_equal(name: str, actual: object, expected: object) -> None:
    a, e = _as_np(actual), _as_np(expected)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != reference {e.shape}"
    assert np.array_equal(a, e), f"{name}: differs from reference at {np.argwhere(a != e)[:5].tolist()}"
