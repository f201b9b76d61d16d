"""Scenario files: the baseline, ``extends``, and one clear sentence for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import ScenarioError
from model.register import Register
from model.scenario import Scenario, load_scenario
from model.services.acute import BEDS_KEY, DAYCASE_KEY, ELECTIVE_KEY, OUTPATIENT_KEY
from model.services.community import ASSESS_KEY, MH_KEY, NURSING_KEY
from model.services.primary_care import CAPACITY_KEYS

GP_KEY = CAPACITY_KEYS[0]

#: every capacity the engine reads from the register
ENGINE_CAPACITY_KEYS = {
    *CAPACITY_KEYS,
    BEDS_KEY,
    ELECTIVE_KEY,
    DAYCASE_KEY,
    OUTPATIENT_KEY,
    NURSING_KEY,
    MH_KEY,
    ASSESS_KEY,
}


@pytest.fixture
def baseline_path(repo_root: Path) -> Path:
    return repo_root / "scenarios" / "baseline.toml"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def extending(folder: Path, base: Path, body: str, name: str = "variant.toml") -> Path:
    """A scenario file in ``folder`` that extends ``base`` and adds ``body``."""
    return write(folder, name, f'[scenario]\nname = "variant"\nextends = "{base}"\n{body}')


def assert_one_clear_sentence(message: str, *fragments: str) -> None:
    assert "\n" not in message, message
    assert message.rstrip().endswith((".", "?")), message
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def differing_keys(a: Register, b: Register) -> set[str]:
    assert set(a) == set(b)
    return {k for k in a if a[k].value != b[k].value}


# ----------------------------------------------------------------------------- baseline


def test_baseline_loads(baseline_scenario: Scenario, baseline_path: Path) -> None:
    s = baseline_scenario
    assert s.name == "baseline"
    assert s.run.as_dict() == {
        "population": 100_000,
        "years": 5,
        "start_year": 2024,
        "replications": 1,
        "seed": 2024,
        "base_year": 2023,
        "represents": 100_000,
        "year_starts": "april",
    }
    assert dict(s.levers) == {} and dict(s.parameter_overrides) == {}
    assert s.chain == (str(baseline_path),)
    resolved = s.resolved()
    assert resolved["run"] == s.run.as_dict() and resolved["name"] == "baseline"


def test_baseline_capacities_equal_the_register_defaults(
    baseline_scenario: Scenario, register: Register
) -> None:
    """The file repeats the register's capacities; it must not drift from them."""
    file_keys = set(baseline_scenario.capacity_overrides)
    assert file_keys == ENGINE_CAPACITY_KEYS
    for key, value in baseline_scenario.capacity_overrides.items():
        values = tuple(float(v) for v in (value if isinstance(value, list) else [value]))
        assert values == register[key].value, key
    # so the baseline's register is the package register, value for value
    assert differing_keys(baseline_scenario.register, register) == set()


# ----------------------------------------------------------------------------- extends


def test_a_scenario_extending_the_baseline_differs_only_where_it_says(
    tmp_path: Path, baseline_path: Path, baseline_scenario: Scenario
) -> None:
    path = extending(
        tmp_path, baseline_path, "[capacity.gp]\ngp_minutes_per_1000_per_working_day = 30\n"
    )
    s = load_scenario(path)
    assert s.name == "variant"
    assert s.chain == (str(baseline_path.resolve()), str(path))
    assert s.run == baseline_scenario.run
    assert differing_keys(s.register, baseline_scenario.register) == {GP_KEY}
    assert s.register.scalar(GP_KEY) == 30.0
    assert s.capacity_overrides[GP_KEY] == 30
    assert s.resolved()["capacity"]["gp.gp_minutes_per_1000_per_working_day"] == 30


def test_extends_is_relative_to_the_file_and_run_settings_merge(
    tmp_path: Path, baseline_path: Path, baseline_scenario: Scenario
) -> None:
    write(tmp_path, "baseline.toml", baseline_path.read_text(encoding="utf-8"))
    middle = write(
        tmp_path,
        "middle.toml",
        '[scenario]\nextends = "baseline.toml"\n[run]\nyears = 2\n'
        '[parameters]\n"gp.dna_rate" = 0.05\n',
    )
    top = write(
        tmp_path, "top.toml", '[scenario]\nname = "top"\nextends = "middle.toml"\n[run]\nseed = 7\n'
    )
    s = load_scenario(top)
    assert len(s.chain) == 3 and s.chain[-1] == str(top) and s.chain[1] == str(middle.resolve())
    assert (s.run.years, s.run.seed) == (2, 7)
    assert s.run.population == baseline_scenario.run.population
    assert s.register.scalar("gp.dna_rate") == 0.05
    assert differing_keys(s.register, baseline_scenario.register) == {"gp.dna_rate"}


def test_with_run_validates_and_leaves_the_original_alone(baseline_scenario: Scenario) -> None:
    small = baseline_scenario.with_run(population=5_000, years=None)
    assert (small.run.population, small.run.years) == (5_000, baseline_scenario.run.years)
    assert baseline_scenario.run.population == 100_000
    assert baseline_scenario.with_run() is baseline_scenario
    with pytest.raises(ScenarioError) as info:
        baseline_scenario.with_run(years=31)
    assert_one_clear_sentence(str(info.value), "command line", "'run.years'", "31", "1 to 30")


# ----------------------------------------------------------------------------- bad input

BAD = {
    "unknown section": ("[foo]\nx = 1\n", ["[foo]", "allowed sections", "[capacity]"]),
    "unknown key in [run]": (
        "[run]\nworkers = 2\n",
        ["'run.workers'", "allowed keys", "population"],
    ),
    "negative capacity": (
        "[capacity.gp]\ngp_minutes_per_1000_per_working_day = -1\n",
        [f"'{GP_KEY}'", "-1", "zero or more"],
    ),
    "capacity not a number": (
        '[capacity.acute]\nbeds_per_1000 = "lots"\n',
        [f"'{BEDS_KEY}'", "'lots'", "number"],
    ),
    "unknown capacity": (
        "[capacity.gp]\ngp_minutes = 10\n",
        ["'capacity.gp.gp_minutes'", "did you mean", f"'{GP_KEY}'"],
    ),
    "probability above 1": (
        '[parameters]\n"gp.dna_rate" = 1.3\n',
        ["'gp.dna_rate'", "1.3", "[0, 1]"],
    ),
    "unknown parameter": (
        '[parameters]\n"gp.dna_rat" = 0.1\n',
        ["'gp.dna_rat'", "did you mean 'gp.dna_rate'"],
    ),
    "parameter not a number": (
        '[parameters]\n"gp.dna_rate" = "high"\n',
        ["'gp.dna_rate'", "'high'", "not a number"],
    ),
    "capacity in [parameters]": (f'[parameters]\n"{GP_KEY}" = 20\n', [f"'{GP_KEY}'", "[capacity]"]),
    "shares not summing to 1": (
        "[capacity.gp]\nnurse_minutes_per_1000_per_working_day = [1.0, 2.0]\n",
        ["'capacity.gp.nurse_minutes_per_1000_per_working_day'", "same shape"],
    ),
    "wrong type": ('[run]\npopulation = "many"\n', ["'run.population'", "'many'", "whole number"]),
    "years above range": ("[run]\nyears = 31\n", ["'run.years'", "31", "1 to 30"]),
    "years below range": ("[run]\nyears = 0\n", ["'run.years'", "0", "1 to 30"]),
    "start year before the base year": (
        "[run]\nstart_year = 2020\n",
        ["'run.start_year'", "2020", "2024"],
    ),
    "lever not a table": (
        "[levers]\nlink_workers = 10\n",
        ["levers.link_workers", "10", "[levers.link_workers] table"],
    ),
    "unknown lever": ("[levers.coaching]\nfte = 1\n", ["[levers.coaching]", "known levers"]),
    "year start not allowed": (
        '[run]\nyear_starts = "march"\n',
        ["'run.year_starts'", "'march'", "'january' or 'april'"],
    ),
    "year start not text": (
        "[run]\nyear_starts = 4\n",
        ["'run.year_starts'", "4", "'january' or 'april'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_clear_sentence(case: str, tmp_path: Path, baseline_path: Path) -> None:
    body, fragments = BAD[case]
    path = extending(tmp_path, baseline_path, body)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_one_clear_sentence(str(info.value), str(path), *fragments)


#: whole files ({base} is the baseline's path)
BAD_FILES = {
    "unknown key in [scenario]": (
        '[scenario]\nextends = "{base}"\nowner = "me"\n',
        ["'scenario.owner'", "name, description, extends"],
    ),
    "invalid TOML": ("[scenario\nname = 1\n", ["not valid TOML", "line 1"]),
    "extends not a file name": ("[scenario]\nextends = 3\n", ["'scenario.extends'", "3"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gives_one_clear_sentence(
    case: str, tmp_path: Path, baseline_path: Path
) -> None:
    text, fragments = BAD_FILES[case]
    path = write(tmp_path, "variant.toml", text.replace("{base}", str(baseline_path)))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_one_clear_sentence(str(info.value), str(path), *fragments)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_one_clear_sentence(str(info.value), str(path), "does not exist")


def test_extends_to_a_missing_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "variant.toml", '[scenario]\nextends = "missing.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    # which file is missing, and which file (and key) asked for it
    assert_one_clear_sentence(
        str(info.value), "missing.toml", "does not exist", str(path), "extends"
    )


def test_extends_to_itself_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "loop.toml", '[scenario]\nextends = "loop.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_one_clear_sentence(str(info.value), str(path), "'scenario.extends'", "itself")


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ('[parameters]\n"gp.dna_rate" = 1.3\n', ["'gp.dna_rate'", "1.3"]),
        ("[run]\nyears = 99\n", ["'run.years'", "99"]),
    ],
    ids=["parameter", "run setting"],
)
def test_an_error_in_a_base_file_names_the_base_file(
    tmp_path: Path, baseline_path: Path, body: str, fragments: list[str]
) -> None:
    base = extending(tmp_path, baseline_path, body, name="base.toml")
    child = write(tmp_path, "child.toml", '[scenario]\nname = "child"\nextends = "base.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert_one_clear_sentence(str(info.value), str(base.resolve()), *fragments)


def test_represents_is_the_place_and_population_the_sample(
    baseline_scenario: Scenario, tmp_path: Path
) -> None:
    # by default the file's population is the place; --population changes the sample only
    small = baseline_scenario.with_run(population=20_000)
    assert small.run.population == 20_000 and small.run.represented == 100_000
    assert small.run.scale == pytest.approx(5.0)
    assert baseline_scenario.run.scale == 1.0
    # a scenario may say what it stands for; extending it inherits it
    base = tmp_path / "place.toml"
    base.write_text(
        '[scenario]\nname = "place"\n[run]\npopulation = 50000\nyears = 2\nstart_year = 2024\n'
        "replications = 1\nseed = 1\nbase_year = 2023\nrepresents = 1500000\n",
        encoding="utf-8",
    )
    child = tmp_path / "child.toml"
    child.write_text('[scenario]\nname = "child"\nextends = "place.toml"\n', encoding="utf-8")
    for path in (base, child):
        s = load_scenario(path)
        assert s.run.represented == 1_500_000 and s.run.scale == pytest.approx(30.0)
        assert s.resolved()["run"]["represents"] == 1_500_000
    for bad, fragment in (("0", "out of range"), ("-5", "out of range"), ('"many"', "whole")):
        bad_file = tmp_path / "bad.toml"
        bad_file.write_text(
            base.read_text(encoding="utf-8").replace("1500000", bad), encoding="utf-8"
        )
        with pytest.raises(ScenarioError, match=f"'run.represents' = .*{fragment}"):
            load_scenario(bad_file)
