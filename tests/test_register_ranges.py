"""Allowed ranges of register entries: syntax, fit to the unit, values, overrides, sampling.

Every register entry has a ``range`` (interval notation) that follows from its meaning and
unit. The loader refuses a malformed range, a range the unit does not allow, and a value or
uncertainty interval outside the range; ``Register.with_values`` (scenario overrides) refuses
a value outside it; and ``sample_uncertainty`` never draws outside it. The last section tests
``to_text(width=...)``, which wraps the register listing to the terminal.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_register import exactly, make_parameter, toml_entry, write_register_file

from model.errors import RegisterError, ScenarioError
from model.register import (
    MAX_REDRAWS,
    UNIT_FAMILIES,
    AllowedRange,
    Parameter,
    Register,
    Uncertainty,
    default_register,
    load_register,
    register_markdown,
    register_rows,
    sample_uncertainty,
    unit_family,
)
from model.scenario import load_scenario
from model.textable import MIN_WRAP_WIDTH, to_markdown, to_text

MAX_MESSAGE_CHARS = 300
finite = {"allow_nan": False, "allow_infinity": False}


def assert_one_line(message: str) -> None:
    assert "\n" not in message and len(message) <= MAX_MESSAGE_CHARS, message
    assert message.endswith("."), message


# ----------------------------------------------------------------------------- syntax

VALID_RANGES = {
    "[0, 1]": (0.0, 1.0, False, False),
    "(0, inf)": (0.0, math.inf, True, True),
    "(-1, 1)": (-1.0, 1.0, True, True),
    "[0, 365]": (0.0, 365.0, False, False),
    "(-inf, 0]": (-math.inf, 0.0, True, False),
    "[0, 1)": (0.0, 1.0, False, True),
    "( 0.5 ,1e3 ]": (0.5, 1000.0, True, False),
    "[-5, 5]": (-5.0, 5.0, False, False),
}


@pytest.mark.parametrize("text, expected", VALID_RANGES.items(), ids=VALID_RANGES.keys())
def test_range_notation_is_parsed(text: str, expected: tuple[float, float, bool, bool]) -> None:
    allowed = AllowedRange.parse(text)
    assert (allowed.low, allowed.high, allowed.low_open, allowed.high_open) == expected
    # str() gives the notation back in its normal form, which parses to the same range
    assert AllowedRange.parse(str(allowed)) == allowed


def test_str_is_the_interval_notation() -> None:
    assert str(AllowedRange(0.0, 1.0)) == "[0, 1]"
    assert str(AllowedRange(0.0, math.inf, True, True)) == "(0, inf)"
    assert str(AllowedRange(-1.0, 1.0, True, True)) == "(-1, 1)"
    assert str(AllowedRange(0.0, 0.1, False, True)) == "[0, 0.1)"
    assert str(AllowedRange(0.0, 365_000.0)) == "[0, 365000]"


def test_contains_respects_open_and_closed_ends() -> None:
    closed, half_open = AllowedRange.parse("[0, 1]"), AllowedRange.parse("(0, 1]")
    assert closed.contains(0.0) and closed.contains(1.0)
    assert not half_open.contains(0.0) and half_open.contains(1.0)
    assert half_open.contains(5e-324)  # the smallest positive float is inside (0, 1]
    assert not closed.contains(math.nan) and not closed.contains(-1e-300)
    np.testing.assert_array_equal(
        half_open.contains_array(np.array([0.0, 0.5, 1.0, 1.5, np.nan])),
        [False, True, True, False, False],
    )


def test_within_compares_ends_and_brackets() -> None:
    unit = AllowedRange.parse("(0, inf)")
    assert AllowedRange.parse("(0, 10]").within(unit)
    assert not AllowedRange.parse("[0, 10]").within(unit)  # 0 is in [0, 10] but not in (0, inf)
    assert AllowedRange.parse("[0, 1)").within(AllowedRange.parse("[0, 1]"))
    assert not AllowedRange.parse("[0, 1]").within(AllowedRange.parse("[0, 1)"))


BAD_RANGES = {
    "missing bracket": (
        '"[0, 1"',
        "grp.toml: 'grp.p.range' is '[0, 1'; write an interval such as \"[0, 1]\" or "
        '"(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
    "no brackets": (
        '"0, 1"',
        "grp.toml: 'grp.p.range' is '0, 1'; write an interval such as \"[0, 1]\" or "
        '"(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
    "semicolon": (
        '"[0; 1]"',
        "grp.toml: 'grp.p.range' is '[0; 1]'; write an interval such as \"[0, 1]\" or "
        '"(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
    "not a number": (
        '"[zero, 1]"',
        "grp.toml: 'grp.p.range' is '[zero, 1]'; write an interval such as \"[0, 1]\" or "
        '"(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
    "nan": (
        '"[0, nan]"',
        "grp.toml: 'grp.p.range' is '[0, nan]'; write an interval such as \"[0, 1]\" or "
        '"(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
    "closed infinity": (
        '"[0, inf]"',
        "grp.toml: 'grp.p.range' is '[0, inf]'; an infinite end needs an open bracket, "
        'e.g. "(0, inf)".',
    ),
    "closed minus infinity": (
        '"[-inf, 1]"',
        "grp.toml: 'grp.p.range' is '[-inf, 1]'; an infinite end needs an open bracket, "
        'e.g. "(0, inf)".',
    ),
    "reversed": (
        '"[1, 0]"',
        "grp.toml: 'grp.p.range' is '[1, 0]'; the low end must be below the high end.",
    ),
    "empty": (
        '"[0.5, 0.5]"',
        "grp.toml: 'grp.p.range' is '[0.5, 0.5]'; the low end must be below the high end.",
    ),
    "a list, not text": (
        "[0, 1]",
        'grp.toml: \'grp.p.range\' is [0, 1]; it must be text such as "[0, 1]" or "(0, inf)".',
    ),
    "long text is cut": (
        '"' + "[0, 1" + "1" * 200 + '"',
        "grp.toml: 'grp.p.range' is '[0, 1" + "1" * 73 + "…; write an interval such as "
        '"[0, 1]" or "(0, inf)", with [ ] for a closed end and ( ) for an open end.',
    ),
}


@pytest.mark.parametrize("raw, message", BAD_RANGES.values(), ids=BAD_RANGES.keys())
def test_malformed_range_is_refused(tmp_path: Path, raw: str, message: str) -> None:
    path = write_register_file(tmp_path, toml_entry("p", range=raw))
    with pytest.raises(RegisterError, match=exactly(message)) as info:
        load_register([path])
    assert_one_line(str(info.value))


# ----------------------------------------------------------------------------- unit families

UNIT_CONTRADICTIONS = {
    "proportion above 1": (
        {"unit": '"proportion"', "range": '"[0, 2]"'},
        "grp.toml: 'grp.p.range' [0, 2] does not fit its unit 'proportion', which allows only "
        "values in [0, 1].",
    ),
    "negative probability": (
        {"unit": '"probability per year"', "range": '"[-0.5, 1]"'},
        "grp.toml: 'grp.p.range' [-0.5, 1] does not fit its unit 'probability per year', "
        "which allows only values in [0, 1].",
    ),
    "negative cost": (
        {"unit": '"GBP per attendance"', "range": '"[-100, 1000]"', "price_year": '"2023/24"'},
        "grp.toml: 'grp.p.range' [-100, 1000] does not fit its unit 'GBP per attendance', "
        "which allows only values in [0, inf).",
    ),
    "ratio of zero": (
        {"unit": '"rate ratio"', "range": '"[0, 10]"'},
        "grp.toml: 'grp.p.range' [0, 10] does not fit its unit 'rate ratio', which allows only "
        "values in (0, inf).",
    ),
    "correlation beyond 1": (
        {"unit": '"correlation"', "range": '"(-2, 2)"'},
        "grp.toml: 'grp.p.range' (-2, 2) does not fit its unit 'correlation', which allows "
        "only values in [-1, 1].",
    ),
    "negative days": (
        {"unit": '"days"', "range": '"[-1, 365]"'},
        "grp.toml: 'grp.p.range' [-1, 365] does not fit its unit 'days', which allows only "
        "values in [0, inf).",
    ),
    "PAM score above 100": (
        {"unit": '"PAM score (0-100)"', "range": '"[0, 120]"'},
        "grp.toml: 'grp.p.range' [0, 120] does not fit its unit 'PAM score (0-100)', which "
        "allows only values in [0, 100].",
    ),
    "negative rate": (
        {"unit": '"attendances per 1,000 person-years"', "range": '"(-inf, 1000]"'},
        "grp.toml: 'grp.p.range' (-inf, 1000] does not fit its unit 'attendances per 1,000 "
        "person-years', which allows only values in [0, inf).",
    ),
    "relative change below -100 %": (
        {"unit": '"relative change in GP appointments"', "range": '"[-2, 1]"'},
        "grp.toml: 'grp.p.range' [-2, 1] does not fit its unit 'relative change in GP "
        "appointments', which allows only values in [-1, inf).",
    ),
    "negative months": (
        {"unit": '"months"', "range": '"[-1, 24]"'},
        "grp.toml: 'grp.p.range' [-1, 24] does not fit its unit 'months', which allows only "
        "values in [0, inf).",
    ),
}


@pytest.mark.parametrize(
    "fields, message", UNIT_CONTRADICTIONS.values(), ids=UNIT_CONTRADICTIONS.keys()
)
def test_range_contradicting_its_unit_is_refused(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    path = write_register_file(tmp_path, toml_entry("p", **fields))
    with pytest.raises(RegisterError, match=exactly(message)) as info:
        load_register([path])
    assert_one_line(str(info.value))


@pytest.mark.parametrize(
    "unit, family",
    [
        ("proportion", "probability"),
        ("proportion of beds", "probability"),
        ("shares", "probability"),
        ("GBP per admission", "cost"),
        ("rate ratio per condition", "positive"),
        ("rate ratio, female vs male", "positive"),
        ("hazard ratio per long-term condition", "positive"),
        ("relative rate (males)", "positive"),
        ("gamma shape", "positive"),
        ("index (2014/15 = 100)", "positive"),
        ("days (mean of an exponential)", "duration"),
        ("years", "duration"),
        ("probit units per 10 years", "coefficient"),
        ("SD of latent activation per social need", "coefficient"),
        ("net migrants per person per year", "net flow"),
        ("births per person per year", "count rate"),
        ("appointments per 1,000 people per working day", "count rate"),
        ("bed days per 1,000 person-years", "count rate"),
        ("months", "duration"),
        ("relative change in emergency admissions", "relative change"),
        ("signed multiplier of the lever effect", "signed multiplier"),
        ("patients per FTE-year", "list size"),
        ("FTE per 100,000 people", "staffing"),
        ("QALYs per person", "count rate"),
    ],
)
def test_units_belong_to_their_family(unit: str, family: str) -> None:
    found = unit_family(unit)
    assert found is not None and found.name == family


def test_a_unit_outside_every_family_allows_any_range(tmp_path: Path) -> None:
    assert unit_family("widgets") is None
    path = write_register_file(
        tmp_path,
        toml_entry(
            "p",
            value="-3",
            unit='"widgets"',
            range='"(-inf, inf)"',
            uncertainty='{ distribution = "normal", low = -4, high = -2 }',
        ),
    )
    assert load_register([path])["grp.p"].scalar == -3.0


def test_every_unit_of_the_package_belongs_to_a_family(register: Register) -> None:
    # a new unit must be given a family (and so a widest range) in UNIT_FAMILIES
    orphans = sorted({p.unit for p in register.values() if unit_family(p.unit) is None})
    assert not orphans, f"units outside every family in UNIT_FAMILIES: {orphans}"
    assert len({f.name for f in UNIT_FAMILIES}) == len(UNIT_FAMILIES)


# ----------------------------------------------------------------------------- values at load


def test_value_outside_the_range_is_refused(tmp_path: Path) -> None:
    path = write_register_file(tmp_path, toml_entry("p", range='"[0.5, 1]"'))
    with pytest.raises(
        RegisterError,
        match=exactly("grp.toml: 'grp.p' = 0.2 is out of range; allowed [0.5, 1] (proportion)."),
    ):
        load_register([path])


def test_vector_element_outside_the_range_is_named(tmp_path: Path) -> None:
    path = write_register_file(
        tmp_path,
        toml_entry(
            "v",
            value="[2.0, 0.0, 1.0]",
            index='["a", "b", "c"]',
            unit='"rate ratio"',
            range='"(0, 10]"',
            uncertainty='{ distribution = "fixed" }',
        ),
    )
    with pytest.raises(
        RegisterError,
        match=exactly("grp.toml: 'grp.v' [b] = 0 is out of range; allowed (0, 10] (rate ratio)."),
    ):
        load_register([path])


BAD_INTERVALS = {
    "beyond the high end": (
        {"range": '"[0, 0.25]"'},
        "grp.toml: 'grp.p' uncertainty interval [0.1, 0.3] is out of range; allowed [0, 0.25] "
        "(proportion).",
    ),
    "at an open end": (
        {
            "value": "1.0",
            "unit": '"gamma shape"',
            "range": '"(0, 100]"',
            "uncertainty": '{ distribution = "uniform", low = 0.0, high = 2.0 }',
        },
        "grp.toml: 'grp.p' uncertainty interval [0, 2] is out of range; allowed (0, 100] "
        "(gamma shape).",
    ),
    "a vector element": (
        {
            "value": "[0.5, 0.5]",
            "index": '["x", "y"]',
            "unit": '"correlation"',
            "range": '"(-1, 1)"',
            "uncertainty": '{ distribution = "normal", low = [0.2, 0.0], high = [0.8, 1.0] }',
        },
        "grp.toml: 'grp.p' [y] uncertainty interval [0, 1] is out of range; allowed (-1, 1) "
        "(correlation).",
    ),
}


@pytest.mark.parametrize("fields, message", BAD_INTERVALS.values(), ids=BAD_INTERVALS.keys())
def test_uncertainty_interval_outside_the_range_is_refused(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    path = write_register_file(tmp_path, toml_entry("p", **fields))
    with pytest.raises(RegisterError, match=exactly(message)) as info:
        load_register([path])
    assert_one_line(str(info.value))


def test_ranges_of_the_package_round_trip_through_their_notation(register: Register) -> None:
    for p in register.values():
        assert AllowedRange.parse(str(p.range)) == p.range, p.key


# ----------------------------------------------------------------------------- overrides

#: (key, override, message) -- overrides that ran to nonsense (or crashed) before ranges
BAD_OVERRIDES = {
    "negative patience days": (
        "gp.prebook_tolerance_days",
        -7.0,
        "scenario.toml: 'gp.prebook_tolerance_days' = -7 is out of range; allowed [0, 3650] "
        "(days (mean of an exponential)).",
    ),
    "negative unit cost": (
        "costs.ae_attendance",
        -273.0,
        "scenario.toml: 'costs.ae_attendance' = -273 is out of range; allowed [0, 10000] "
        "(GBP per attendance).",
    ),
    "negative demand scale": (
        "demand.gp.scale",
        -1.0,
        "scenario.toml: 'demand.gp.scale' = -1 is out of range; allowed (0, 20] (multiplier).",
    ),
    "gamma shape of 0": (
        "demand.gp.overdispersion_shape",
        0.0,
        "scenario.toml: 'demand.gp.overdispersion_shape' = 0 is out of range; allowed "
        "(0, 1000] (gamma shape).",
    ),
    "frailty loading of 2": (
        "ltc.diabetes.frailty_loading",
        2.0,
        "scenario.toml: 'ltc.diabetes.frailty_loading' = 2 is out of range; allowed (-1, 1) "
        "(correlation).",
    ),
    "frailty loading of exactly 1": (
        "ltc.copd.frailty_loading",
        1.0,
        "scenario.toml: 'ltc.copd.frailty_loading' = 1 is out of range; allowed (-1, 1) "
        "(correlation).",
    ),
    "A&E demand scale of 1e9": (
        "demand.ae.scale",
        1e9,
        "scenario.toml: 'demand.ae.scale' = 1e+09 is out of range; allowed (0, 50] (multiplier).",
    ),
    "rate ratio of 1000": (
        "demand.ae.rr_per_ltc",
        1000.0,
        "scenario.toml: 'demand.ae.rr_per_ltc' = 1000 is out of range; allowed (0, 5] "
        "(rate ratio per condition).",
    ),
    "negative rate ratio in a vector": (
        "demand.gp.pam_rr",
        [1.0, -0.5, 0.9, 0.8],
        "scenario.toml: 'demand.gp.pam_rr' [L2] = -0.5 is out of range; allowed (0, 10] "
        "(rate ratio vs PAM level 1).",
    ),
    "an empty segment": (
        "segments.shares",
        [0.5, 0.5, 0.0, 0.0],
        "scenario.toml: 'segments.shares' [traditional_concerned] = 0 is out of range; "
        "allowed (0, 1) (shares).",
    ),
    "prevalence of 0": (
        "ltc.asthma.prevalence",
        0.0,
        "scenario.toml: 'ltc.asthma.prevalence' = 0 is out of range; allowed (0, 1) (proportion).",
    ),
    "age beyond the life table": (
        "ltc.dementia.min_age",
        150.0,
        "scenario.toml: 'ltc.dementia.min_age' = 150 is out of range; allowed [0, 100] (years).",
    ),
    "negative net migration": (
        "dynamics.net_migration_per_person_year",
        -0.01,
        "scenario.toml: 'dynamics.net_migration_per_person_year' = -0.01 is out of range; "
        "allowed [0, 0.1] (net migrants per person per year).",
    ),
    "every stay zero nights": (
        "acute.los.emergency.zero_night_share",
        [0.5, 0.5, 0.5, 1.0],
        "scenario.toml: 'acute.los.emergency.zero_night_share' [85] = 1 is out of range; "
        "allowed [0, 1) (proportion).",
    ),
    "GP capacity of 1e9": (
        "capacity.gp.gp_minutes_per_1000_per_working_day",
        1e9,
        "scenario.toml: 'capacity.gp.gp_minutes_per_1000_per_working_day' = 1e+09 is out of "
        "range; allowed [0, 100000] (clinician minutes per 1,000 people per working day).",
    ),
    "fewer than one contact per user": (
        "demand.mental_health.events_per_user",
        0.5,
        "scenario.toml: 'demand.mental_health.events_per_user' = 0.5 is out of range; allowed "
        "[1, 365] (contacts per person in contact per year).",
    ),
    "PAM score above 100": (
        "activation.score_cutpoints",
        [47.0, 55.1, 120.0],
        "scenario.toml: 'activation.score_cutpoints' [L3|L4] = 120 is out of range; allowed "
        "[0, 100] (PAM score (0-100)).",
    ),
    "probit slope of 12 per decade": (
        "ltc.hypertension.age_slope_per_decade",
        12.0,
        "scenario.toml: 'ltc.hypertension.age_slope_per_decade' = 12 is out of range; allowed "
        "[-5, 5] (probit units per 10 years).",
    ),
    "a value just above a bound is shown exactly": (
        "gp.dna_rate",
        1.0000000000000002,
        "scenario.toml: 'gp.dna_rate' = 1.0000000000000002 is out of range; allowed [0, 1] "
        "(proportion).",
    ),
}


@pytest.mark.parametrize("key, value, message", BAD_OVERRIDES.values(), ids=BAD_OVERRIDES.keys())
def test_override_outside_the_range_is_refused(
    register: Register, key: str, value: float | list[float], message: str
) -> None:
    with pytest.raises(RegisterError, match=exactly(message)) as info:
        register.with_values({key: value}, origin="scenario.toml")
    assert_one_line(str(info.value))


def test_override_at_a_closed_bound_is_accepted(register: Register) -> None:
    new = register.with_values(
        {"gp.prebook_tolerance_days": 0.0, "demand.ae.scale": 50.0, "costs.ae_attendance": 0.0}
    )
    assert new.scalar("demand.ae.scale") == 50.0
    assert new["demand.ae.scale"].range == register["demand.ae.scale"].range


def test_scenario_override_outside_the_range_names_the_scenario_file(
    tmp_path: Path, repo_root: Path
) -> None:
    base = repo_root / "scenarios" / "baseline.toml"
    path = tmp_path / "stress.toml"
    path.write_text(
        f'[scenario]\nname = "stress"\nextends = "{base}"\n[parameters]\n"demand.ae.scale" = 1e9\n',
        encoding="utf-8",
    )
    with pytest.raises(
        ScenarioError,
        match=exactly(
            f"{path}: 'demand.ae.scale' = 1e+09 is out of range; allowed (0, 50] (multiplier)."
        ),
    ):
        load_scenario(path)


def test_long_echoed_values_are_cut(register: Register) -> None:
    with pytest.raises(RegisterError) as info:
        register.with_values({"segments.shares": [0.01] * 100})
    message = str(info.value)
    assert_one_line(message)
    assert "…" in message and "0.01, 0.01" in message


# ----------------------------------------------------------------------------- sampling


def _package_keys(shares: bool = True) -> list[str]:
    """Keys of the package register (needed when the tests are collected)."""
    return [k for k, p in default_register().items() if shares or p.unit != "shares"]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(_package_keys()), seed=st.integers(0, 2**32 - 1))
def test_sampling_every_entry_stays_within_its_range(key: str, seed: int) -> None:
    p = default_register()[key]
    draws = sample_uncertainty(p, np.random.default_rng(seed), 400)
    assert draws.shape == (400, len(p.value))
    assert p.range.contains_array(draws).all(), (key, draws[~p.range.contains_array(draws)])


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(_package_keys(shares=False)),
    position=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_sampling_stays_within_the_range_after_an_override_to_its_edge(
    key: str, position: float, seed: int
) -> None:
    """An override may put the value anywhere in the range, far from its interval.

    (Shares are left out: they must sum to 1, so one element cannot be moved alone.)
    """
    p = default_register()[key]
    r = p.range
    low, high = max(r.low, -1e6), min(r.high, 1e6)
    edge = float(r.clip(np.array(low + position * (high - low))))
    value = [edge] * len(p.value) if p.is_vector else edge
    moved = default_register().with_values({key: value})[key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warnings either
        draws = sample_uncertainty(moved, np.random.default_rng(seed), 300)
    assert r.contains_array(draws).all(), (key, edge, draws[~r.contains_array(draws)])


def synthetic(
    value: float, distribution: str, low: float, high: float, allowed: AllowedRange
) -> Parameter:
    """A parameter built in code with any interval (the loader would refuse some)."""
    return Parameter(
        key="test.p",
        value=(value,),
        is_vector=False,
        unit="test",
        description="test",
        source="test",
        confidence="H",
        uncertainty=Uncertainty(distribution, (low,), (high,)),
        range=allowed,
    )


@settings(max_examples=200, deadline=None)
@given(
    bound=st.floats(-1e3, 1e3, **finite),
    open_end=st.booleans(),
    above=st.booleans(),
    offset=st.floats(0.0, 1.0),
    spread=st.floats(1e-3, 1e3, **finite),
    seed=st.integers(0, 2**32 - 1),
)
def test_normal_near_a_bound_never_crosses_it(
    bound: float,
    open_end: bool,
    above: bool,
    offset: float,
    spread: float,
    seed: int,
) -> None:
    """A normal centred at or near a bound, with a spread up to 1,000 times the distance."""
    if above:  # values must be above the bound: [bound, inf) or (bound, inf)
        allowed = AllowedRange(bound, math.inf, open_end, True)
        centre = bound + offset * spread
    else:
        allowed = AllowedRange(-math.inf, bound, True, open_end)
        centre = bound - offset * spread
    if not allowed.contains(centre):
        centre = float(allowed.clip(np.array(centre)))
    p = synthetic(centre, "normal", centre - spread, centre + spread, allowed)
    draws = sample_uncertainty(p, np.random.default_rng(seed), 500)
    assert allowed.contains_array(draws).all()
    if open_end:
        assert not (draws == bound).any()


def test_a_gamma_shape_of_zero_is_never_drawn() -> None:
    # a gamma with a tiny shape draws exact zeros (underflow); the open end "(0" refuses them
    allowed = AllowedRange.parse("(0, 1000]")
    p = synthetic(1e-3, "gamma", 1e-4, 100.0, allowed)
    draws = sample_uncertainty(p, np.random.default_rng(1), 10_000)
    assert (draws > 0).all() and (draws <= 1000).all()


def test_truncation_redraws_rather_than_piles_up_at_the_bound(rng) -> None:
    # N(0, 1) truncated to [0, inf) is the half-normal: mean sqrt(2 / pi), nothing at 0
    allowed = AllowedRange(0.0, math.inf, False, True)
    z = 1.2815515655446004  # the 90th percentile of N(0, 1): an 80 % interval is [-z, z]
    p = synthetic(0.0, "normal", -z, z, allowed)
    draws = sample_uncertainty(p, rng, 200_000)
    assert (draws >= 0).all()
    assert (draws == 0).mean() < 1e-4
    # SE of the mean: sqrt(1 - 2 / pi) / sqrt(200k) ~ 0.0013
    assert draws.mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)


def test_values_that_redrawing_cannot_bring_inside_are_moved_inside(rng) -> None:
    # a normal with SD 800 restricted to [0, 1] is accepted once in about 2,000 draws, so after
    # MAX_REDRAWS rounds most values are still outside: the last resort moves them inside
    allowed = AllowedRange(0.0, 1.0, True, True)
    p = synthetic(0.5, "normal", -1000.0, 1000.0, allowed)
    draws = sample_uncertainty(p, rng, 1_000)
    assert MAX_REDRAWS < 100
    assert allowed.contains_array(draws).all()
    assert ((draws > 0) & (draws < 1)).all()


def test_truncated_sampling_is_reproducible() -> None:
    p = synthetic(0.01, "normal", -0.5, 0.5, AllowedRange.parse("(0, 1)"))
    a = sample_uncertainty(p, np.random.default_rng(3), 1_000)
    b = sample_uncertainty(p, np.random.default_rng(3), 1_000)
    np.testing.assert_array_equal(a, b)


def test_a_share_overridden_to_zero_stays_zero(register: Register, rng) -> None:
    key = "gp.mode_preference.independent_engaged"
    p = register.with_values({key: [0.7, 0.3, 0.0]})[key]
    draws = sample_uncertainty(p, rng, 1_000)
    assert (draws[:, 2] == 0).all()
    np.testing.assert_allclose(draws.sum(axis=1), 1.0)


def test_a_cost_overridden_to_zero_samples_zero_without_warnings(register: Register, rng) -> None:
    p = register.with_values({"costs.ae_attendance": 0.0})["costs.ae_attendance"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = sample_uncertainty(p, rng, 100)
    assert (draws == 0).all()


def test_make_parameter_without_a_range_is_unbounded(rng) -> None:
    # entries built in code (not loaded) default to (-inf, inf): sampling is unchanged
    p = make_parameter(-0.15, "normal", -0.3, 0.0)
    assert str(p.range) == "(-inf, inf)"
    assert (sample_uncertainty(p, rng, 10_000) > 0).any()


# ----------------------------------------------------------------------------- presentation


def test_rows_and_markdown_show_the_range(register: Register) -> None:
    rows = register_rows(register.select("gp"))
    assert list(rows[0])[:4] == ["key", "value", "unit", "range"]
    patience = next(r for r in rows if r["key"] == "gp.prebook_tolerance_days")
    assert patience["range"] == "[0, 3650]"
    page = register_markdown(register)
    assert "| key | value | unit | range | uncertainty |" in page
    assert re.search(
        r"^\| `prebook_tolerance_days` \| [^|]+ \| days \(mean of an exponential\) "
        r"\| \[0, 3650\] \|",
        page,
        re.MULTILINE,
    )


# ----------------------------------------------------------------------------- text tables

words = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
sentences = st.lists(words, min_size=0, max_size=30).map(" ".join)


def _column_slices(rule: str) -> list[slice]:
    """Character ranges of the columns, from the header rule of dashes."""
    return [slice(m.start(), m.end()) for m in re.finditer(r"-+", rule)]


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(st.tuples(sentences, sentences), min_size=1, max_size=6),
    width=st.integers(2 * MIN_WRAP_WIDTH + 12, 160),
)
def test_to_text_wraps_wide_text_within_the_width(cells: list[tuple[str, str]], width: int) -> None:
    numbers = [float(i) + 0.125 for i in range(len(cells))]
    df = pd.DataFrame(
        {"n": numbers, "first": [a for a, _ in cells], "second": [b for _, b in cells]}
    )
    text = to_text(df, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    # the text of every cell survives, in order, and each number stays whole on one line
    cols = _column_slices(lines[1])
    starts = [i for i, line in enumerate(lines) if i > 1 and line[cols[0]].strip()]
    assert [float(lines[i][cols[0]]) for i in starts] == numbers
    for r, (first, second) in enumerate(cells):
        block = lines[starts[r] : starts[r + 1] if r + 1 < len(starts) else len(lines)]
        for col, original in ((cols[1], first), (cols[2], second)):
            rebuilt = " ".join(line[col].strip() for line in block if line[col].strip())
            assert rebuilt == " ".join(original.split())


def test_to_text_without_width_does_not_wrap() -> None:
    df = pd.DataFrame({"key": ["a"], "text": ["word " * 50]})
    assert len(to_text(df).splitlines()) == 3
    assert to_text(df, width=10_000) == to_text(df)


def test_to_text_never_wraps_numbers_and_lets_one_long_word_overflow() -> None:
    long_word = "x" * 60
    df = pd.DataFrame({"n": [12.5], "text": [f"short {long_word} words here"]})
    lines = to_text(df, width=40).splitlines()
    assert lines[2] == "12.5  short"
    # the column is as wide as its unbreakable word: only that word's line (and the header
    # rule) are wider than 40, and by no more than the word needs
    assert [line for line in lines if len(line) > 40] == ["----  " + "-" * 60, " " * 6 + long_word]
    assert lines[4] == " " * 6 + "words here"


def test_to_markdown_never_cuts_or_wraps() -> None:
    text = "a long sentence " * 20
    df = pd.DataFrame({"key": ["k"], "text": [text]})
    lines = to_markdown(df).splitlines()
    assert len(lines) == 3 and text in lines[2]


def test_the_register_listing_fits_a_wide_terminal(register: Register) -> None:
    # (the narrowest the whole register can be, with every column at its longest word, is
    # about 220 characters)
    df = pd.DataFrame(register_rows(register.values()))
    lines = to_text(df, width=300).splitlines()
    assert max(len(line) for line in lines) <= 300
    assert len(lines) > len(register) + 2  # long sources wrapped onto several lines
