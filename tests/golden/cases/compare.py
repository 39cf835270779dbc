"""Comparison helpers for golden cases: every failure names the output and the worst element."""

from __future__ import annotations

import numpy as np


def _as_np(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    return np.asarray(x)


def assert_no_new_non_finite(name: str, a: np.ndarray, e: np.ndarray) -> None:
    """Every NaN or inf of ours must sit where the reference holds the same (NaN, or the same signed inf)."""
    same = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    bad = ~np.isfinite(a) & ~same
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{name}: {int(bad.sum())} NaN/inf values where the reference has none; first at {idx}: "
            f"{a[idx]!r} vs {e[idx]!r}"
        )


def assert_rel(name: str, actual: object, expected: object, tol: float) -> None:
    """max |x - ref| / max(1, |ref|) <= tol (the golden READMEs' 'relative' check) where the reference is
    finite; a NaN/inf of ours is an error unless the reference has the same at that place."""
    a = _as_np(actual).astype(np.float64)
    e = _as_np(expected).astype(np.float64)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != reference {e.shape}"
    assert_no_new_non_finite(name, a, e)
    finite = np.isfinite(e)
    err = np.zeros(a.shape)
    err[finite] = np.abs(a[finite] - e[finite]) / np.maximum(1.0, np.abs(e[finite]))
    worst = float(err.max()) if err.size else 0.0
    where = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
    assert worst <= tol, f"{name}: max rel err {worst:.3g} > {tol:g} at {where}"


def assert_close(name: str, actual: object, expected: object, atol: float, rtol: float = 0.0) -> None:
    """|x - ref| <= atol + rtol * |ref| everywhere (NaNs must coincide)."""
    a = _as_np(actual).astype(np.float64)
    e = _as_np(expected).astype(np.float64)
    assert a.shape == e.shape, f"{name}: shape {a.shape} != reference {e.shape}"
    assert_no_new_non_finite(name, a, e)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    assert (nan_a == nan_e).all(), f"{name}: NaN positions differ"
    finite = np.isfinite(a) & np.isfinite(e)  # non-finite values were matched exactly above
    diff = np.abs(np.where(finite, a, 0.0) - np.where(finite, e, 0.0))
    bound = atol + rtol * np.abs(np.where(finite, e, 0.0))
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
