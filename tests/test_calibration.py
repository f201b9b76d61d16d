"""Calibration: the fit runs end to end, matches its targets, and writes values back safely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.calibration import adjusted_ratio, calibrate_baseline, replace_value
from model.errors import CarescaleError
from model.register import default_register


@pytest.fixture(scope="module")
def small_fit():
    # small reference populations keep this quick; the fit's own log says what it matched
    return calibrate_baseline(default_register(), size=30_000, seed=5, engine_size=20_000)


def test_the_fit_matches_its_expected_rate_targets(small_fit) -> None:
    log = {what: (target, achieved) for what, target, achieved in small_fit.log}
    for what in (
        "GP adjusted Q1/Q5 rate ratio (expected rates)",
        "GP adjusted 2+ vs 0 LTC rate ratio",
        "GP adjusted PAM L4/L1 rate ratio",
        "ae adjusted PAM L4/L1 rate ratio",
        "outpatient adjusted PAM L4/L1 rate ratio",
        "type 1 conversion (expected)",
        "emergency overnight mean LOS (expected)",
    ):
        target, achieved = log[what]
        assert achieved == pytest.approx(target, rel=2e-3), what


def test_every_fitted_value_is_a_register_key_and_valid(small_fit) -> None:
    reg = default_register()
    for key, value in small_fit.values.items():
        assert key in reg
        # the fitted register must still pass the register's own value checks
        reg.with_values({key: value})


def test_adjusted_ratio_removes_confounding() -> None:
    # two groups with the same rates within each cell but different cell mixes: ratio 1
    rate = np.array([1.0, 1.0, 3.0, 3.0, 3.0, 1.0])
    group = np.array([1, 1, 1, 2, 2, 2])
    cell = np.array([0, 0, 1, 1, 1, 0])
    assert adjusted_ratio(rate, group, 2, 1, cell) == pytest.approx(1.0)
    # group 2 at 1.5 times the rate: indirect standardisation against pooled cell rates gives
    # (10.5 / 9.1667) / (5 / 6.3333) = 1.4509 by hand (not exactly 1.5: the pool moves too)
    assert adjusted_ratio(rate * np.where(group == 2, 1.5, 1.0), group, 2, 1, cell) == (
        pytest.approx(1.4509, abs=1e-4)
    )


def test_replace_value_changes_only_the_named_entry(tmp_path: Path) -> None:
    text = '[a.b]\nvalue = 1\nunit = "x"\n\n[a.c]\nvalue = 2\n'
    out = replace_value(text, "a.c", 5.5, "f.toml")
    assert "[a.b]\nvalue = 1\n" in out and "[a.c]\nvalue = 5.5\n" in out
    with pytest.raises(CarescaleError, match=r"f\.toml: no \[a\.d\] entry"):
        replace_value(text, "a.d", 1, "f.toml")
