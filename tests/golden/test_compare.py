"""The golden comparison itself: it must fail on any NaN or inf of ours the reference does not have there."""

from __future__ import annotations

import numpy as np
import pytest
from golden.cases.compare import assert_close, assert_equal, assert_rel

REF = np.array([[1.0, 2.0, np.nan], [4.0, np.inf, -6.0]])


@pytest.mark.parametrize(
    "check", [lambda a, e: assert_rel("x", a, e, 1e-3), lambda a, e: assert_close("x", a, e, 1e-3)]
)
def test_matching_non_finite_values_pass(check) -> None:
    check(REF.copy(), REF)
    check(REF + 1e-5 * np.isfinite(REF), REF)


@pytest.mark.parametrize(
    "where, value",
    [((0, 0), np.nan), ((0, 1), np.inf), ((1, 2), -np.inf), ((1, 1), -np.inf)],
    ids=["nan-where-finite", "inf-where-finite", "minus-inf-where-finite", "wrong-sign-inf"],
)
@pytest.mark.parametrize("kind", ["rel", "close"])
def test_new_nan_or_inf_fails_even_when_the_reference_has_nans_elsewhere(where, value, kind) -> None:
    ours = REF.copy()
    ours[where] = value
    with pytest.raises(AssertionError, match="NaN/inf"):
        if kind == "rel":
            assert_rel("x", ours, REF, 1e9)  # whatever the tolerance
        else:
            assert_close("x", ours, REF, 1e9)


def test_tolerances_still_apply_to_finite_values() -> None:
    ours = REF.copy()
    ours[1, 0] += 0.1
    with pytest.raises(AssertionError, match="max rel err"):
        assert_rel("x", ours, REF, 1e-3)
    with pytest.raises(AssertionError, match="1 of 6 elements off"):
        assert_close("x", ours, REF, 1e-3)
    with pytest.raises(AssertionError, match="shape"):
        assert_rel("x", ours[:1], REF, 1.0)
    with pytest.raises(AssertionError, match="differs"):
        assert_equal("x", np.array([1, 2]), np.array([1, 3]))
