"""The evidence register: the package's own files, the loader's refusals, and sampling.

Bad-input tests write small TOML files to ``tmp_path`` and assert the *exact* sentence the
loader gives, because that sentence is the user interface of a parameter mistake.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.errors import RegisterError
from model.register import (
    CONFIDENCE_CODES,
    PROBABILITY_UNITS,
    AllowedRange,
    Parameter,
    Register,
    Uncertainty,
    default_parameter_files,
    load_register,
    sample_uncertainty,
)

# ----------------------------------------------------------------------------- helpers

#: a valid entry, as TOML literals; tests replace or drop (None) single fields
VALID_FIELDS: dict[str, str] = {
    "value": "0.2",
    "unit": '"proportion"',
    "range": '"[0, 1]"',
    "description": '"A test probability."',
    "source": '"Test author 2024, Table 1"',
    "confidence": '"H"',
    "uncertainty": '{ distribution = "beta", low = 0.1, high = 0.3 }',
}


def toml_entry(name: str = "p", **changes: str | None) -> str:
    """A TOML table for one parameter: the valid fields with ``changes`` applied."""
    merged = {**VALID_FIELDS, **changes}
    lines = [f"[{name}]"] + [f"{k} = {v}" for k, v in merged.items() if v is not None]
    return "\n".join(lines) + "\n"


def write_register_file(folder: Path, body: str, filename: str = "grp.toml") -> Path:
    """A register file with a valid ``[_meta]`` table followed by ``body``."""
    path = folder / filename
    path.write_text('[_meta]\ntitle = "Test group"\n\n' + body, encoding="utf-8")
    return path


def exactly(message: str) -> str:
    """A ``match`` pattern that accepts only ``message`` itself."""
    return "^" + re.escape(message) + "$"


# ----------------------------------------------------------------------------- the package


def test_package_register_loads_every_shipped_file(register: Register) -> None:
    files = default_parameter_files()
    assert [f.stem for f in files] == register.groups()
    assert set(register.groups()) >= {"activation", "ltc", "segments", "social", "targets"}
    assert len(register) > 100
    # every parameter belongs to the group named by its file
    for key, p in register.items():
        assert p.key == key
        assert p.group in register.groups()
        assert p.file == f"{p.group}.toml"


def test_assumption_sources_start_with_a_capital(register: Register) -> None:
    # the loader accepts any case ("assumption: ..."); the register's style is "Assumption"
    # (a missing unit, description, source, range or price year is refused by the loader:
    # see BAD_ENTRIES)
    problems = [
        p.key
        for p in register.values()
        if p.confidence == "A" and not p.source.startswith("Assumption")
    ]
    assert not problems, f"sources of confidence-A entries not starting 'Assumption': {problems}"


def test_confidence_codes_are_the_documented_five() -> None:
    assert list(CONFIDENCE_CODES) == ["H", "M", "L", "D", "A"]


def test_a_probability_outside_its_unit_is_refused_even_with_a_wide_range(
    tmp_path: Path,
) -> None:
    # the unit caps the range: a proportion cannot be given the range [0, 2] to pass 1.3
    path = write_register_file(tmp_path, toml_entry("p", value="1.3", range='"[0, 2]"'))
    with pytest.raises(
        RegisterError,
        match=exactly(
            "grp.toml: 'grp.p.range' [0, 2] does not fit its unit 'proportion', which allows "
            "only values in [0, 1]."
        ),
    ):
        load_register([path])


def test_every_package_parameter_can_be_sampled(register: Register, rng) -> None:
    """The probabilistic sensitivity analysis will sample every entry: none may give NaN."""
    for p in register.values():
        draws = p.sample(rng, 2_000)
        assert draws.shape == (2_000, len(p.value)), p.key
        assert np.isfinite(draws).all(), p.key
        assert p.range.contains_array(draws).all(), p.key
        if p.uncertainty.distribution == "beta":
            assert ((draws >= 0) & (draws <= 1)).all(), p.key
        if p.uncertainty.distribution == "dirichlet":
            np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-9, err_msg=p.key)


def test_scalar_and_array_accessors(register: Register) -> None:
    assert register.scalar("ltc.hypertension.prevalence") == 0.1408
    cut = register.array("activation.score_cutpoints")
    np.testing.assert_array_equal(cut, [47.0, 55.1, 67.0])
    assert not cut.flags.writeable
    with pytest.raises(
        RegisterError,
        match=exactly(
            "parameter 'activation.score_cutpoints' is a vector (3 values), "
            "but a single number was asked for."
        ),
    ):
        register.scalar("activation.score_cutpoints")


def test_select_by_group(register: Register) -> None:
    keys = [p.key for p in register.select("activation")]
    assert keys and all(k.startswith("activation.") for k in keys)
    # a prefix must end at a dot: 'activ' is not a group
    with pytest.raises(RegisterError, match="no parameters match group 'activ'"):
        register.select("activ")


# ----------------------------------------------------------------------------- valid files


def test_a_valid_file_loads_with_its_fields(tmp_path: Path) -> None:
    path = write_register_file(
        tmp_path,
        toml_entry("p")
        + "\n"
        + toml_entry(
            "s",
            value="[0.25, 0.75]",
            index='["a", "b"]',
            unit='"shares"',
            uncertainty='{ distribution = "dirichlet", concentration = 50 }',
        ),
    )
    reg = load_register([path])
    assert reg.titles == {"grp": "Test group"}
    p = reg["grp.p"]
    assert (p.scalar, p.unit, p.confidence, p.file) == (0.2, "proportion", "H", "grp.toml")
    assert p.uncertainty == Uncertainty("beta", (0.1,), (0.3,), 0.8)
    assert p.range == AllowedRange(0.0, 1.0) and str(p.range) == "[0, 1]"
    s = reg["grp.s"]
    assert s.is_vector and s.value == (0.25, 0.75) and s.index == ("a", "b")


def test_with_values_returns_a_new_register_and_leaves_the_old_one(register: Register) -> None:
    new = register.with_values({"ltc.diabetes.prevalence": 0.1})
    assert new.scalar("ltc.diabetes.prevalence") == 0.1
    assert register.scalar("ltc.diabetes.prevalence") == 0.0707
    assert new["ltc.diabetes.prevalence"].file == "overrides"
    # everything else is shared unchanged
    assert new.scalar("ltc.hypertension.prevalence") == register.scalar(
        "ltc.hypertension.prevalence"
    )


def test_register_cannot_be_mutated(register: Register) -> None:
    with pytest.raises(TypeError):
        register["ltc.diabetes.prevalence"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        register["ltc.diabetes.prevalence"].value = (0.5,)  # type: ignore[misc]


# ----------------------------------------------------------------------------- bad files

BAD_ENTRIES = {
    "unknown field": (
        toml_entry("p", vaule="0.2"),
        "grp.toml: parameter 'grp.p' has unknown field 'vaule'; allowed fields are confidence, "
        "description, evidence, index, kind, note, price_year, range, relative_tolerance, "
        "source, tolerance, uncertainty, unit, value.",
    ),
    "unknown target kind": (
        toml_entry("p", kind='"fitted"'),
        "grp.toml: 'grp.p.kind' is 'fitted'; allowed values are input, calibrated, held_out.",
    ),
    "probability above 1": (
        toml_entry("p", value="1.3"),
        "grp.toml: 'grp.p' = 1.3 is out of range; allowed [0, 1] (proportion).",
    ),
    "negative probability": (
        toml_entry("p", value="-0.1", unit='"probability"'),
        "grp.toml: 'grp.p' = -0.1 is out of range; allowed [0, 1] (probability).",
    ),
    "interval not ordered": (
        toml_entry("p", uncertainty='{ distribution = "beta", low = 0.3, high = 0.1 }'),
        "grp.toml: 'grp.p' uncertainty interval [0.3, 0.1] is not ordered "
        "(low must be below high).",
    ),
    "value outside interval": (
        toml_entry("p", value="0.5"),
        "grp.toml: 'grp.p' value 0.5 lies outside its uncertainty interval [0.1, 0.3].",
    ),
    "missing source": (
        toml_entry("p", source=None),
        "grp.toml: parameter 'grp.p' has no 'source'; every entry needs one.",
    ),
    "blank source": (
        toml_entry("p", source='"   "'),
        "grp.toml: parameter 'grp.p' has no 'source'; every entry needs one.",
    ),
    "missing unit": (
        toml_entry("p", unit=None),
        "grp.toml: parameter 'grp.p' has no 'unit'; every entry needs one.",
    ),
    "missing range": (
        toml_entry("p", range=None),
        "grp.toml: parameter 'grp.p' has no 'range'; every entry needs one.",
    ),
    "missing description": (
        toml_entry("p", description=None),
        "grp.toml: parameter 'grp.p' has no 'description'; every entry needs one.",
    ),
    "blank description": (
        toml_entry("p", description='""'),
        "grp.toml: parameter 'grp.p' has no 'description'; every entry needs one.",
    ),
    "missing uncertainty": (
        toml_entry("p", uncertainty=None),
        "grp.toml: parameter 'grp.p' has no 'uncertainty'; every entry needs one.",
    ),
    "unknown confidence": (
        toml_entry("p", confidence='"X"'),
        "grp.toml: 'grp.p.confidence' is 'X'; allowed values are H, M, L, D, A.",
    ),
    "assumption without 'Assumption' source": (
        toml_entry("p", confidence='"A"'),
        "grp.toml: 'grp.p' has confidence A, so its source must start with 'Assumption'.",
    ),
    "cost without price year": (
        toml_entry(
            "c",
            value="40.0",
            unit='"GBP per attendance"',
            range='"[0, inf)"',
            uncertainty='{ distribution = "normal", low = 30.0, high = 50.0 }',
        ),
        "grp.toml: cost parameter 'grp.c' (unit 'GBP per attendance') needs a 'price_year' "
        'such as "2022/23".',
    ),
    "shares not summing to 1": (
        toml_entry(
            "s",
            value="[0.5, 0.4]",
            index='["a", "b"]',
            unit='"shares"',
            uncertainty='{ distribution = "dirichlet", concentration = 10 }',
        ),
        "grp.toml: 'grp.s' shares sum to 0.9000 but must sum to 1.",
    ),
    "vector without index": (
        toml_entry(
            "v",
            value="[0.1, 0.2]",
            uncertainty='{ distribution = "fixed" }',
        ),
        "grp.toml: vector parameter 'grp.v' needs an 'index' list of 2 labels.",
    ),
    "index of the wrong length": (
        toml_entry(
            "v",
            value="[0.1, 0.2]",
            index='["a", "b", "c"]',
            uncertainty='{ distribution = "fixed" }',
        ),
        "grp.toml: vector parameter 'grp.v' needs an 'index' list of 2 labels.",
    ),
    "unknown distribution": (
        toml_entry("p", uncertainty='{ distribution = "betta", low = 0.1, high = 0.3 }'),
        "grp.toml: 'grp.p.uncertainty.distribution' is 'betta'; allowed values are beta, "
        "dirichlet, fixed, gamma, lognormal, normal, triangular, uniform.",
    ),
    "value is text": (
        toml_entry("p", value='"0.2"'),
        "grp.toml: 'grp.p' value '0.2' is not a number.",
    ),
    "lognormal interval not positive": (
        toml_entry(
            "r",
            value="0.5",
            unit='"ratio"',
            range='"(0, 10]"',
            uncertainty='{ distribution = "lognormal", low = 0.0, high = 1.0 }',
        ),
        "grp.toml: 'grp.r' lognormal interval must be positive, got low 0.",
    ),
}


@pytest.mark.parametrize("body, message", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_bad_entry_is_refused_with_one_clear_sentence(
    tmp_path: Path, body: str, message: str
) -> None:
    path = write_register_file(tmp_path, body)
    with pytest.raises(RegisterError, match=exactly(message)) as info:
        load_register([path])
    text = str(info.value)
    assert "\n" not in text and text.endswith((".", "?"))


def test_misspelt_value_key_is_refused(tmp_path: Path) -> None:
    # a table with plain fields but no 'value' is a parameter missing its value
    path = write_register_file(tmp_path, toml_entry("p", value=None, vaule="0.2"))
    with pytest.raises(
        RegisterError,
        match=exactly(
            "grp.toml: parameter 'grp.p' has no 'value'; is 'vaule' a misspelling of 'value'?"
        ),
    ):
        load_register([path])


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(RegisterError, match=exactly(f"parameter file '{path}' does not exist.")):
        load_register([path])


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grp.toml"
    path.write_text('[_meta]\ntitle = "Test group"\n[p\nvalue = 0.2\n', encoding="utf-8")
    # the rest of the sentence is tomllib's description of the error (line and column)
    with pytest.raises(RegisterError, match=r"^grp\.toml is not valid TOML: .*line 3.*\.$"):
        load_register([path])


def test_file_without_meta_title_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grp.toml"
    path.write_text(toml_entry("p"), encoding="utf-8")
    with pytest.raises(
        RegisterError, match=exactly("grp.toml: needs a [_meta] table with a 'title'.")
    ):
        load_register([path])


def test_empty_list_of_files_is_refused() -> None:
    with pytest.raises(RegisterError, match=exactly("no parameter files were given.")):
        load_register([])


def test_unknown_key_suggests_the_closest(register: Register) -> None:
    with pytest.raises(
        RegisterError,
        match=r"^unknown parameter 'ltc\.diabetes\.prevalance'; "
        r"did you mean 'ltc\.diabetes\.prevalence'",
    ):
        register["ltc.diabetes.prevalance"]


def test_unknown_key_without_a_close_match_points_to_the_listing(register: Register) -> None:
    message = (
        "unknown parameter 'nothing.like.this'; `carescale parameters` lists the "
        f"{len(register)} known keys."
    )
    with pytest.raises(RegisterError, match=exactly(message)):
        register["nothing.like.this"]


def test_with_values_refuses_an_unknown_key(register: Register) -> None:
    with pytest.raises(
        RegisterError,
        match=r"^scenario\.toml: unknown parameter 'ltc\.diabetes\.prevalance'; "
        r"did you mean 'ltc\.diabetes\.prevalence'",
    ):
        register.with_values({"ltc.diabetes.prevalance": 0.1}, origin="scenario.toml")


def test_with_values_revalidates_the_new_value(register: Register) -> None:
    with pytest.raises(
        RegisterError,
        match=exactly(
            "scenario.toml: 'ltc.diabetes.prevalence' = 1.3 is out of range; allowed (0, 1) "
            "(proportion)."
        ),
    ):
        register.with_values({"ltc.diabetes.prevalence": 1.3}, origin="scenario.toml")


def test_with_values_refuses_a_change_of_shape(register: Register) -> None:
    with pytest.raises(
        RegisterError,
        match=exactly(
            "scenario.toml: 'segments.shares' = [0.5, 0.5] must have the same shape as the "
            "register value (independent_engaged 0.35; worried_engaged 0.25; "
            "traditional_concerned 0.2; vuln…)."
        ),
    ):
        register.with_values({"segments.shares": [0.5, 0.5]}, origin="scenario.toml")


def test_with_values_refuses_shares_not_summing_to_one(register: Register) -> None:
    with pytest.raises(
        RegisterError,
        match=exactly("overrides: 'segments.shares' shares sum to 1.1000 but must sum to 1."),
    ):
        register.with_values({"segments.shares": [0.4, 0.3, 0.2, 0.2]})


def test_a_group_defined_twice_is_refused(tmp_path: Path) -> None:
    a = write_register_file(tmp_path, toml_entry("p"))
    (tmp_path / "other").mkdir()
    b = write_register_file(tmp_path / "other", toml_entry("q"))
    with pytest.raises(
        RegisterError, match=exactly("grp.toml: group 'grp' is defined by two files.")
    ):
        load_register([a, b])


# Formerly known defects (fixed); kept as regression tests.


def test_uncertainty_that_is_not_a_table_names_the_value(tmp_path: Path) -> None:
    path = write_register_file(tmp_path, toml_entry("p", uncertainty='"beta"'))
    with pytest.raises(RegisterError, match=re.escape("got 'beta'.") + "$"):
        load_register([path])


def test_confidence_given_as_a_list_is_a_register_error(tmp_path: Path) -> None:
    path = write_register_file(tmp_path, toml_entry("p", confidence='["H"]'))
    with pytest.raises(RegisterError, match="confidence"):
        load_register([path])


def test_register_get_returns_the_default_for_an_unknown_key(register: Register) -> None:
    assert register.get("nothing.like.this", "default") == "default"


def test_misspelt_value_key_is_named_in_the_message(tmp_path: Path) -> None:
    path = write_register_file(tmp_path, toml_entry("p", value=None, vaule="0.2"))
    with pytest.raises(RegisterError, match="'vaule'"):
        load_register([path])


# ----------------------------------------------------------------------------- properties

PROBABILITY_DISTRIBUTIONS = ("beta", "normal", "uniform", "triangular")
finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def probability_and_interval(draw: st.DrawFn) -> tuple[float, float, float, str]:
    """A probability with an ordered interval around it, all in [0, 1]."""
    low, value, high = sorted(draw(st.lists(st.floats(0.0, 1.0, **finite), min_size=3, max_size=3)))
    if low == high:  # the loader needs low < high: widen the degenerate draw
        low, high = (0.0, 1.0) if value in (0.0, 1.0) else (value / 2, (value + 1) / 2)
    return value, low, high, draw(st.sampled_from(PROBABILITY_DISTRIBUTIONS))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=probability_and_interval(), unit=st.sampled_from(sorted(PROBABILITY_UNITS)))
def test_valid_probability_round_trips(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[float, float, float, str], unit: str
) -> None:
    value, low, high, dist = case
    folder = tmp_path_factory.mktemp("roundtrip")
    path = write_register_file(
        folder,
        toml_entry(
            "p",
            value=repr(value),
            unit=f'"{unit}"',
            uncertainty=f'{{ distribution = "{dist}", low = {low!r}, high = {high!r} }}',
        ),
    )
    p = load_register([path])["grp.p"]
    assert p.scalar == value
    assert p.uncertainty.low == (low,) and p.uncertainty.high == (high,)
    assert p.uncertainty.distribution == dist


invalid_probability = st.one_of(
    st.floats(max_value=0.0, exclude_max=True, **finite),
    st.floats(min_value=1.0, exclude_min=True, **finite),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=invalid_probability, unit=st.sampled_from(sorted(PROBABILITY_UNITS)))
def test_invalid_probability_is_always_refused(
    tmp_path_factory: pytest.TempPathFactory, value: float, unit: str
) -> None:
    folder = tmp_path_factory.mktemp("invalid")
    path = write_register_file(
        folder,
        toml_entry(
            "p", value=repr(value), unit=f'"{unit}"', uncertainty='{ distribution = "fixed" }'
        ),
    )
    # the echoed value is exact (not rounded), so that 1.0000000000000002 is not shown as 1
    pattern = r"^grp\.toml: 'grp\.p' = (\S+) is out of range; allowed \[0, 1\] \((\w+)\)\.$"
    with pytest.raises(RegisterError, match=pattern) as info:
        load_register([path])
    echoed, echoed_unit = re.match(pattern, str(info.value)).groups()  # type: ignore[union-attr]
    assert float(echoed) == value and echoed_unit == unit


# ----------------------------------------------------------------------------- sampling

N_DRAWS = 200_000


def make_parameter(
    value: float | list[float],
    distribution: str,
    low=None,
    high=None,
    unit: str = "ratio",
    concentration: float | None = None,
) -> Parameter:
    """A parameter built directly (no file), for testing ``sample_uncertainty`` alone."""
    values = tuple(float(v) for v in np.atleast_1d(value))

    def bound(b: float | list[float] | None) -> tuple[float, ...] | None:
        return None if b is None else tuple(float(v) for v in np.atleast_1d(b))

    return Parameter(
        key="test.p",
        value=values,
        is_vector=len(values) > 1,
        unit=unit,
        description="test",
        source="test",
        confidence="H",
        uncertainty=Uncertainty(distribution, bound(low), bound(high), 0.8, concentration),
        index=tuple(f"i{j}" for j in range(len(values))) if len(values) > 1 else (),
    )


# The 10th/90th percentiles of 200,000 draws have a sampling standard error of about
# 0.004 SD, i.e. under 0.2 % of an 80 % interval's width. Normal and lognormal are fitted
# to the interval exactly, so 2 % of the width is a wide margin (> 10 standard errors);
# beta and gamma are fitted by moments, whose skew moves the percentiles by up to ~1.5 %
# of the width for these parameters, hence 5 %.
@pytest.mark.parametrize(
    "distribution, value, low, high, rel_tol",
    [
        ("normal", 10.0, 8.0, 12.0, 0.02),
        ("normal", -0.15, -0.3, 0.0, 0.02),
        ("beta", 0.2, 0.15, 0.25, 0.05),
        ("beta", 0.1408, 0.13094, 0.15066, 0.05),
        ("gamma", 10.0, 8.0, 12.0, 0.05),
    ],
)
def test_central_80_percent_interval_is_reproduced(
    rng, distribution: str, value: float, low: float, high: float, rel_tol: float
) -> None:
    draws = sample_uncertainty(make_parameter(value, distribution, low, high), rng, N_DRAWS)
    assert draws.shape == (N_DRAWS, 1)
    p10, p90 = np.percentile(draws, [10, 90])
    tol = rel_tol * (high - low)
    assert p10 == pytest.approx(low, abs=tol)
    assert p90 == pytest.approx(high, abs=tol)


def test_lognormal_interval_is_reproduced_on_the_log_scale(rng) -> None:
    # a geometrically symmetric interval (1 is the geometric mean of 0.5 and 2), so the
    # 10th and 90th percentiles should be the bounds; same 2 % rule as above, in logs
    low, value, high = 0.5, 1.0, 2.0
    draws = sample_uncertainty(make_parameter(value, "lognormal", low, high), rng, N_DRAWS)
    assert (draws > 0).all()
    log_p10, log_p90 = np.log(np.percentile(draws, [10, 90]))
    tol = 0.02 * np.log(high / low)
    assert log_p10 == pytest.approx(np.log(low), abs=tol)
    assert log_p90 == pytest.approx(np.log(high), abs=tol)


def test_uniform_and_triangular_stay_within_their_bounds(rng) -> None:
    uni = sample_uncertainty(make_parameter(70.0, "uniform", 65.0, 95.0), rng, N_DRAWS)
    assert uni.min() >= 65.0 and uni.max() <= 95.0
    # mean of U(65, 95) is 80; standard error 30/sqrt(12)/sqrt(200k) ~ 0.02
    assert uni.mean() == pytest.approx(80.0, abs=0.1)
    tri = sample_uncertainty(make_parameter(0.5, "triangular", 0.0, 2.0), rng, N_DRAWS)
    assert tri.min() >= 0.0 and tri.max() <= 2.0
    # mean of a triangular distribution is (low + mode + high) / 3 = 2.5 / 3; SE ~ 0.001
    assert tri.mean() == pytest.approx(2.5 / 3, abs=0.005)


def test_fixed_returns_the_value(rng) -> None:
    p = make_parameter([47.0, 55.1, 67.0], "fixed")
    draws = sample_uncertainty(p, rng, 10)
    np.testing.assert_array_equal(draws, np.tile([47.0, 55.1, 67.0], (10, 1)))
    draws[0, 0] = -1.0  # a copy, not a view of the parameter
    assert p.value[0] == 47.0


def test_dirichlet_shares_sum_to_one_and_centre_on_the_value(rng) -> None:
    shares = [0.35, 0.25, 0.2, 0.2]
    draws = sample_uncertainty(
        make_parameter(shares, "dirichlet", unit="shares", concentration=20.0), rng, N_DRAWS
    )
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-12)
    # each component's SD is sqrt(p(1-p)/21) <= 0.11; SE of the mean <= 0.0003
    np.testing.assert_allclose(draws.mean(axis=0), shares, atol=0.002)


def test_vector_parameters_sample_each_component(rng) -> None:
    p = make_parameter([0.2, 0.6], "normal", [0.1, 0.5], [0.3, 0.7])
    draws = sample_uncertainty(p, rng, N_DRAWS)
    assert draws.shape == (N_DRAWS, 2)
    # SE of each mean ~ 0.078 / sqrt(200k) ~ 0.0002
    np.testing.assert_allclose(draws.mean(axis=0), [0.2, 0.6], atol=0.002)


def test_sampling_is_reproducible_with_the_same_generator_seed() -> None:
    p = make_parameter(0.2, "beta", 0.15, 0.25)
    a = sample_uncertainty(p, np.random.default_rng(1), 100)
    b = sample_uncertainty(p, np.random.default_rng(1), 100)
    c = sample_uncertainty(p, np.random.default_rng(2), 100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
