"""Property tests: fuzzed scenario names and values through loading and ``carescale check``.

Each example writes a small scenario that extends a copy of ``scenarios/baseline.toml`` into a
fresh temporary folder (which is also the current folder) and asserts that carescale either
accepts it, and then what it accepted is safe (a name that is one path component, a value
within the entry's allowed range), or refuses it in one short line without control
characters. Never a traceback, never an exception other than ``CarescaleError``, and nothing
written. No engine runs, so the module stays fast.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from helpers import (
    ERROR_PREFIX,
    MAX_ERROR_LINE,
    assert_no_traceback,
    assert_same_tree,
    check_problem_line,
    raw_control_characters,
    run_main,
    snapshot_tree,
    toml_string,
    toml_value,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from model.errors import CarescaleError
from model.register import PROBABILITY_UNITS, SHARE_UNITS, default_register
from model.scenario import load_scenario

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
FILE = "fuzzed.toml"
MAX_NAME = 100

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextlib.contextmanager
def scenario_folder(text: str) -> Iterator[Path]:
    """A fresh current folder holding ``baseline.toml`` and ``fuzzed.toml`` (= ``text``)."""
    with tempfile.TemporaryDirectory(prefix="carescale-fuzz-") as tmp:
        root = Path(tmp)
        shutil.copy(BASELINE, root / "baseline.toml")
        (root / FILE).write_text(text, encoding="utf-8")
        with contextlib.chdir(root):
            yield root


def scenario_text(name: str = "fuzzed", body: str = "") -> str:
    return f'[scenario]\nname = {toml_string(name)}\nextends = "baseline.toml"\n\n{body}\n'


def assert_check_problem(out: str, err: str) -> None:
    """``carescale check`` reported a problem with the fuzzed file in one safe line."""
    line = check_problem_line(out, err, FILE)
    assert len(line) <= MAX_ERROR_LINE, f"problem line of {len(line)} characters: {line[:400]!r}"
    raw = raw_control_characters(line)
    assert not raw, f"raw control characters {raw[:5]} in {line!r}"


# ----------------------------------------------------------------------------- names


def is_one_safe_component(name: str) -> bool:
    """What the contract requires of an accepted name (the default results folder)."""
    return (
        0 < len(name) <= MAX_NAME
        and "/" not in name
        and "\\" not in name
        and name not in (".", "..")
        and not raw_control_characters(name)
    )


#: names every implementation must accept (letters, digits, '-' and '_', not at the ends) ...
PLAIN_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,98}[A-Za-z0-9])?")
#: ... except device names that Windows reserves (an implementation may refuse them)
RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(10)}
)


def is_plain(name: str) -> bool:
    return PLAIN_NAME.fullmatch(name) is not None and name.upper() not in RESERVED


_TRICKY = list("./\\-_ :~\t\n\r\x00\x1b\x7f\x85\u2028\u202eab")
NAMES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(_TRICKY), max_size=12),
    st.text(min_size=95, max_size=160),
    st.builds(
        lambda a, sep, b: a + sep + b,
        st.text(max_size=10),
        st.sampled_from(["/", "\\", "/../", "\n", "\x1b[31m", "\r", "\x00"]),
        st.text(max_size=10),
    ),
    st.from_regex(PLAIN_NAME, fullmatch=True),
)


@FUZZ
@given(name=NAMES)
@example(name="baseline-2")
@example(name="x" * MAX_NAME)
@example(name="x" * (MAX_NAME + 1))
@example(name="../../x")
@example(name="/abs/x")
@example(name=".")
@example(name="..")
@example(name="a/b/c")
@example(name="a\\b")
@example(name="line1\nline2")
@example(name="\x1b[31mred")
@example(name="")
def test_fuzzed_names_are_accepted_only_when_safe(name: str) -> None:
    with scenario_folder(scenario_text(name)) as root:
        before = snapshot_tree(root)
        code, out, err = run_main(["check", FILE])
        assert_no_traceback(out, err)
        if code == 0:
            assert is_one_safe_component(name), f"check accepted the unsafe name {name!r}"
        else:
            assert_check_problem(out, err)
        if is_plain(name):
            assert code == 0, f"check refused the plain name {name!r}: {out}{err}"
        assert_same_tree(before, root)


# ----------------------------------------------------------------------------- values

#: a sample of register keys: every unit family, scalars and vectors, capacities
KEYS = (
    "gp.dna_rate",
    "gp.prebook_tolerance_days",
    "acute.ae_type1_share",
    "acute.child_type1_conversion",
    "acute.los.emergency.child_mean_days",
    "acute.max_emergency_wait_days",
    "costs.ae_attendance",
    "costs.elective_admission.ordinary",
    "demand.gp.scale",
    "demand.ae.scale",
    "demand.ae.overdispersion_shape",
    "demand.ae.imd_rr_q1_q5",
    "demand.gp.pam_rr",
    "demand.mental_health.events_per_user",
    "ltc.diabetes.frailty_loading",
    "ltc.diabetes.prevalence",
    "ltc.diabetes.peak_age",
    "activation.frailty",
    "dynamics.mortality_hr_per_ltc",
    "dynamics.activation_year_correlation",
    "dynamics.births_per_person_year",
    "dynamics.net_migration_per_person_year",
    "community.long_term_support_at_start.frailty_loading",
    "capacity.gp.gp_minutes_per_1000_per_working_day",
    "capacity.gp.nurse_minutes_per_1000_per_working_day",
    "capacity.acute.beds_per_1000",
    "capacity.acute.bed_occupancy_target",
    "capacity.margin",
)

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-3.0, max_value=3.0),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-5, max_value=200),
    st.sampled_from(
        [0, 0.0, -0.0, 5e-324, 1e-300, 1e308, -1e308, 1.3, 2.0, -1, 1e9, 10**30, -(10**400)]
    ),
)


def override_text(key: str, value: object) -> str:
    if key.startswith("capacity."):
        # a dotted key below [capacity], as in scenarios/baseline.toml's [capacity.gp]
        return scenario_text(body=f"[capacity]\n{key.removeprefix('capacity.')} = {value}")
    return scenario_text(body=f'[parameters]\n"{key}" = {value}')


@FUZZ
@given(key=st.sampled_from(KEYS), data=st.data())
def test_fuzzed_values_are_accepted_only_within_range(key: str, data: st.DataObject) -> None:
    entry = default_register()[key]
    if entry.is_vector:
        n = len(entry.value)
        raw: object = data.draw(
            st.one_of(
                st.lists(NUMBERS, min_size=n, max_size=n),
                st.lists(NUMBERS, max_size=n + 2),
            ),
            label="values",
        )
    else:
        raw = data.draw(NUMBERS, label="value")
    with scenario_folder(override_text(key, toml_value(raw))) as root:
        before = snapshot_tree(root)
        try:
            scenario = load_scenario(FILE)
        except CarescaleError as exc:
            accepted, message = False, str(exc)
            assert "\n" not in message, message
            assert not raw_control_characters(message), message
            assert len(ERROR_PREFIX + message) <= MAX_ERROR_LINE, message[:400]
        else:
            accepted = True
            values = raw if isinstance(raw, list) else [raw]  # numbers, as drawn
            assert_accepted_value_is_allowed(scenario.register[key], values)
        code, out, err = run_main(["check", FILE])
        assert_no_traceback(out, err)
        assert (code == 0) == accepted, (
            f"load_scenario {'accepted' if accepted else 'refused'} {raw!r} for {key!r} but "
            f"check exited {code}: {out}{err}"
        )
        if not accepted:
            assert_check_problem(out, err)
        assert_same_tree(before, root)


def assert_accepted_value_is_allowed(entry: object, values: list[float | int]) -> None:
    """An accepted override is finite, in the unit's range and in the entry's range."""
    key = getattr(entry, "key", "?")
    floats = [float(v) for v in values]
    assert all(math.isfinite(v) for v in floats), f"{key}: accepted {values!r}"
    assert tuple(floats) == tuple(getattr(entry, "value", ())), f"{key}: value not applied"
    unit = getattr(entry, "unit", "")
    if unit in PROBABILITY_UNITS or unit in SHARE_UNITS:
        assert all(0.0 <= v <= 1.0 for v in floats), f"{key} ({unit}): accepted {values!r}"
    if key.startswith("capacity."):
        assert all(v >= 0.0 for v in floats), f"{key}: accepted a negative capacity {values!r}"
    allowed = getattr(entry, "range", None)
    if allowed is not None and hasattr(allowed, "contains"):
        outside = [v for v in floats if not allowed.contains(v)]
        assert not outside, f"{key}: accepted {outside!r} outside its range {allowed}"
