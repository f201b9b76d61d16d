"""Calibration: the fit runs end to end, matches its targets (read from the register, fitting
targets only), and writes values back safely."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

import model.calibration as calibration
from model.calibration import (
    _CALIBRATED_KEYS,
    Fit,
    _Context,
    _fit_gp,
    _targets,
    adjusted_ratio,
    calibrate_baseline,
    replace_value,
)
from model.errors import CarescaleError
from model.register import Register, default_register


@pytest.fixture(scope="module")
def small_fit() -> tuple[Fit, set[str]]:
    """The fit on small reference populations (quick), and every register key it read."""
    read: set[str] = set()
    original = Register.__getitem__

    def recording(self: Register, key: str):  # type: ignore[no-untyped-def]
        read.add(key)
        return original(self, key)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Register, "__getitem__", recording)
        fit = calibrate_baseline(default_register(), size=30_000, seed=5, engine_size=20_000)
    return fit, read


def test_the_fit_matches_its_expected_rate_targets(small_fit) -> None:
    log = {what: (target, achieved) for what, target, achieved in small_fit[0].log}
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
    for key, value in small_fit[0].values.items():
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


# ----------------------------------------------------------------------------- targets


def test_every_target_the_fit_reads_is_a_fitting_target(small_fit) -> None:
    reg = default_register()
    targets = sorted(k for k in small_fit[1] if k.startswith("targets."))
    assert len(targets) >= 20
    wrong = [f"{k} ({reg[k].kind})" for k in targets if reg[k].kind != "calibrated"]
    assert not wrong, f"the calibration reads targets that are not fitting targets: {wrong}"
    # the GP rate ratios, the top decile and the PAM ratios are among them
    for name in (
        "baseline.gp_deprivation_rate_ratio",
        "baseline.gp_multimorbidity_rate_ratio",
        "baseline.pam_rate_ratio_gp",
        "calibration_only.gp_top_decile_rate_ratio",
        "baseline.pam_rate_ratio_ae",
        "baseline.pam_rate_ratio_emergency_admission",
        "baseline.pam_rate_ratio_outpatient",
    ):
        assert f"targets.{name}" in targets, name


def test_a_held_out_or_input_target_cannot_steer_the_fit() -> None:
    target = _targets(default_register())
    assert target("pam_rate_ratio_ae") == default_register().scalar(
        "targets.baseline.pam_rate_ratio_ae"
    )
    for name, kind in (("ae_under_17_share", "held_out"), ("gp_share_of_appointments", "input")):
        with pytest.raises(CarescaleError, match=f"{name}, whose kind is {kind}"):
            target(name)


def test_the_gp_fit_follows_the_register_targets() -> None:
    """Other targets in the register give other fitted values that meet them: nothing is
    hard-coded."""
    reg = default_register()
    moved = {
        "targets.baseline.gp_deprivation_rate_ratio": 1.3,
        "targets.baseline.gp_multimorbidity_rate_ratio": 2.0,
        "targets.baseline.pam_rate_ratio_gp": 0.7,
        "targets.calibration_only.gp_top_decile_rate_ratio": 4.0,
    }
    other = reg.with_values(moved)
    ctx = _Context(other, 20_000, 3)
    fit = Fit()
    _fit_gp(ctx, other, fit, _targets(other))
    log = {what: (target, achieved) for what, target, achieved in fit.log}
    for what, goal in (
        ("GP adjusted Q1/Q5 rate ratio (expected rates)", 1.3),
        ("GP adjusted 2+ vs 0 LTC rate ratio", 2.0),
        ("GP adjusted PAM L4/L1 rate ratio", 0.7),
        ("GP top-decile / other 90 % rate ratio", 4.0),
    ):
        target, achieved = log[what]
        assert target == goal, what
        assert achieved == pytest.approx(goal, rel=0.02), what


def test_no_target_value_is_written_into_the_calibration_code() -> None:
    """The targets of the fit (2.30, 5.0, 1.18, 0.82, 0.68, 0.62, 0.81, 9.1, 12.5, 0.28, 1/3)
    come from the register, never from number literals in the code."""
    source = Path(calibration.__file__).read_text(encoding="utf-8")
    numbers = {
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.NUMBER
    }
    targets = {"2.30", "2.3", "5.0", "1.18", "0.82", "0.68", "0.62", "0.81", "9.1", "12.5"}
    targets |= {"0.28", "444", "1680"}
    assert not numbers & targets, numbers & targets


#: fitted entries whose source is not yet "Calibrated to targets.<key> by `carescale calibrate
#: baseline` (how)": they live in register files being edited elsewhere (demand.toml scales
#: and GP relative risks, gp.toml, community.toml). Fix each source, then remove it here.
PENDING_SOURCES = {
    # fitted to stability (exits, with deaths, balance starts), not to a published target
    "community.long_term_support_exit_per_year",
}
#: set by the calibration from expected demand x the capacity margin, fitted to no target
DERIVED_BY_CALIBRATION = {
    "capacity.acute.elective_ordinary_per_1000_per_working_day",
    "capacity.acute.daycase_per_1000_per_working_day",
}
_CALIBRATED_TO = re.compile(r"^Calibrated to (?P<keys>.+?) by `carescale calibrate baseline`")


def test_every_fitted_entry_names_its_fitting_target() -> None:
    reg = default_register()
    unlabelled = set()
    for key in _CALIBRATED_KEYS:
        source = reg[key].source
        if key in DERIVED_BY_CALIBRATION:
            assert source.startswith("Derived: expected"), key
            continue
        match = _CALIBRATED_TO.match(source)
        if match is None:
            unlabelled.add(key)
            continue
        named = re.findall(r"targets\.[a-z_]+\.[a-z0-9_]+", match.group("keys"))
        assert named, key
        for target in named:
            assert reg[target].kind == "calibrated", f"{key} is calibrated to {target}"
        assert reg[key].confidence == "D", key
    assert unlabelled == PENDING_SOURCES


def test_the_mislabelled_entries_of_the_issue_are_corrected() -> None:
    reg = default_register()
    for key, target in (
        ("demand.ae.pam_rr", "pam_rate_ratio_ae"),
        ("demand.emergency_direct.pam_rr", "pam_rate_ratio_emergency_admission"),
        ("demand.outpatient.pam_rr", "pam_rate_ratio_outpatient"),
        ("acute.child_type1_conversion", "ae_type1_conversion"),
    ):
        assert reg[key].source.startswith(f"Calibrated to targets.baseline.{target} by "), key
    # the children's A&E ratio is an assumption; the age mix it gives is a held-out check
    child = reg["demand.ae.child_ratio_to_age_18"]
    assert child.source.startswith("Assumption") and "ae_under_17_share" in child.source
    assert reg["targets.baseline.ae_under_17_share"].kind == "held_out"


def test_every_fitted_entry_shows_the_targets_it_matched() -> None:
    """Beside each fitted value, the published figures it was fitted to (value, accepted
    interval, source) are recorded on the parameters page; its uncertainty keeps the
    relative width, centred on the fitted value."""
    from model.register import evidence_beside, fitted_targets, register_markdown

    reg = default_register()
    page = register_markdown(reg)
    fitted = [p for p in reg.values() if p.source.startswith("Calibrated")]
    assert len(fitted) >= 25
    for p in fitted:
        if p.key in PENDING_SOURCES:
            continue
        targets = fitted_targets(reg, p)
        assert targets, p.key
        beside = evidence_beside(reg, p)
        for t in targets:
            assert t.key in beside and t.source in beside
        assert f"`{p.key}`: " in page and "*Fitted to:* " + beside in page.replace("\\|", "|")
        # the value lies inside its moved uncertainty interval
        lo, hi = np.atleast_1d(p.uncertainty.low), np.atleast_1d(p.uncertainty.high)
        assert (lo <= np.asarray(p.value) + 1e-9).all() and (
            np.asarray(p.value) <= hi + 1e-9
        ).all(), p.key
