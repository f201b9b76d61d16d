"""The broad condition list (Cassell 2018, 36 conditions), the QOF count beside it, and the
Bridges to Health segment with its table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import RecordingEngine

from model.calibration import broad_multimorbidity_shares
from model.engine import NextYear
from model.population import (
    BRIDGES_SEGMENTS,
    BROAD_QOF,
    CONDITIONS,
    EXTRA_CONDITIONS,
    N_BROAD,
    Population,
    bridges_rules,
    broad_count,
    has_bit,
)
from model.register import Register
from model.scenario import Scenario
from model.strata import LTC_BANDS, N_EXTRA, decode


def test_the_broad_list_has_36_conditions() -> None:
    assert N_BROAD == 36
    assert "obesity" not in BROAD_QOF and "depression" not in BROAD_QOF
    assert not set(BROAD_QOF) & set(EXTRA_CONDITIONS)


def test_broad_count_is_the_count_of_set_conditions(small_population: Population) -> None:
    """Counted condition by condition from the explicit columns, not by the bitmask trick."""
    frame = small_population.to_frame()
    qof = frame[[f"ltc_{c}" for c in BROAD_QOF]].sum(axis=1)
    mood = frame["ltc_depression"] | frame["ltc_anxiety"]
    others = frame[[f"ltc_{c}" for c in EXTRA_CONDITIONS if c != "anxiety"]].sum(axis=1)
    expected = qof + mood.astype(int) + others
    np.testing.assert_array_equal(small_population.broad_ltc_count, expected)
    np.testing.assert_array_equal(frame["broad_ltc_count"], expected)
    # every non-QOF condition occurs, and none outside its ages or sex
    for j, name in enumerate(EXTRA_CONDITIONS):
        assert has_bit(small_population.ltc_extra, j).any(), name
    prostate = small_population.has_extra("prostate")
    assert not prostate[small_population.sex == 1].any()


def test_broad_count_on_hand_made_people() -> None:
    ltc = np.zeros((4, len(CONDITIONS)), dtype=bool)
    extra = np.zeros(4, dtype=np.uint32)
    dep, anx = CONDITIONS.index("depression"), EXTRA_CONDITIONS.index("anxiety")
    ltc[1, dep] = True  # depression only: 1
    ltc[2, dep] = True  # depression and anxiety: still 1 (one item)
    extra[2] |= np.uint32(1 << anx)
    ltc[3, CONDITIONS.index("obesity")] = True  # obesity is not on the list
    ltc[3, CONDITIONS.index("chd")] = True
    extra[3] |= np.uint32((1 << EXTRA_CONDITIONS.index("hearing_loss")) | (1 << anx))
    assert broad_count(ltc, extra).tolist() == [0, 1, 1, 3]


def test_adult_multimorbidity_on_the_broad_list(
    big_population: Population, register: Register
) -> None:
    pop = big_population
    adult = pop.age >= 18
    share = float((pop.broad_ltc_count[adult] >= 2).mean())
    expected = broad_multimorbidity_shares(register)["multimorbidity_broad_adults"]
    # ~155,000 adults: SE of the share ~ 0.0011; 0.005 is > 4 SE
    assert share == pytest.approx(expected, abs=0.005)
    target = register["targets.population.multimorbidity_broad_adults"]
    assert target.tolerance is not None
    assert abs(share - target.scalar) < target.tolerance
    # the QOF count stays well below it (Salisbury 2011: 16 %)
    assert (pop.ltc_count[adult] >= 2).mean() < share - 0.05


# ----------------------------------------------------------------------------- Bridges rules


def _people(register: Register) -> tuple[np.ndarray, list[str]]:
    """Hand-made people, each meeting the rules named beside them."""
    severe = register.scalar("segments.bridges.severe_frailty_z") + 0.1
    frail = register.scalar("segments.bridges.frailty_z") + 0.1
    old = int(register.scalar("segments.bridges.frailty_min_age"))
    rows: list[tuple[int, float, list[str], list[str], bool, str]] = [
        # age, frailty, QOF conditions, other conditions, wheelchair, expected segment
        (40, 0.0, [], [], False, "healthy_well"),
        (40, 0.0, ["obesity"], [], False, "healthy_well"),  # obesity is not on the list
        (40, 0.0, [], ["migraine"], False, "long_term_conditions"),
        (40, 0.0, ["asthma"], ["learning_disability"], False, "disability"),
        (30, 0.0, [], [], True, "disability"),
        (old, frail, [], [], False, "frailty_and_dementia"),
        (old - 1, frail, ["copd"], [], False, "long_term_conditions"),  # too young to be frail
        (old, 0.0, ["dementia"], ["sight_loss"], False, "frailty_and_dementia"),
        (70, 0.0, ["heart_failure", "dementia"], [], False, "organ_failure"),
        (60, severe, ["copd"], [], False, "organ_failure"),
        (60, severe - 0.2, ["ckd"], [], False, "long_term_conditions"),
        (60, severe, [], ["liver_disease"], False, "organ_failure"),
        (60, severe, ["cancer", "heart_failure"], [], False, "incurable_cancer"),
        (60, 0.0, ["cancer"], [], False, "long_term_conditions"),
    ]
    n = len(rows)
    age = np.array([r[0] for r in rows], dtype=np.int16)
    frailty = np.array([r[1] for r in rows], dtype=np.float32)
    ltc = np.zeros((n, len(CONDITIONS)), dtype=bool)
    extra = np.zeros(n, dtype=np.uint32)
    for i, (_, _, qof, other, _, _) in enumerate(rows):
        for c in qof:
            ltc[i, CONDITIONS.index(c)] = True
        for c in other:
            extra[i] |= np.uint32(1 << EXTRA_CONDITIONS.index(c))
    wheelchair = np.array([r[4] for r in rows])
    got = bridges_rules(register, age, frailty, ltc, extra, wheelchair)
    return got, [r[5] for r in rows]


def test_bridges_segments_follow_the_rules_highest_need_first(register: Register) -> None:
    got, expected = _people(register)
    assert [BRIDGES_SEGMENTS[k] for k in got] == expected


def test_every_person_has_one_bridges_segment(
    small_population: Population, register: Register
) -> None:
    from model.population import bridges_segment

    seg = bridges_segment(small_population, register)
    assert seg.min() >= 0 and seg.max() < len(BRIDGES_SEGMENTS)
    # nobody with a broad-list condition is 'healthy well'; maternal health is not modelled
    healthy = seg == BRIDGES_SEGMENTS.index("healthy_well")
    assert not (healthy & (small_population.broad_ltc_count > 0)).any()
    assert not (seg == BRIDGES_SEGMENTS.index("maternal_health")).any()


# ----------------------------------------------------------------------------- tables


class _CodeRecorder(RecordingEngine):
    """Keeps each year's person codes and counts beside the recorded people."""

    def _begin_year(self, year: int, ready: NextYear | None = None) -> None:
        super()._begin_year(year, ready)
        w = self.world
        self.years[-1]["codes"] = w.strata.copy()
        self.years[-1]["broad"] = w.pop.broad_ltc_count.copy()
        self.years[-1]["qof"] = w.pop.ltc_count.copy()
        self.years[-1]["exposure"] = w.exposure_days.copy()


@pytest.fixture(scope="module")
def coded_run(baseline_scenario: Scenario) -> tuple[_CodeRecorder, dict[str, pd.DataFrame]]:
    engine = _CodeRecorder(baseline_scenario.with_run(population=5_000, years=2), 0)
    return engine, engine.run()


def test_ltc_band_is_the_broad_count_and_qof_ltc_band_the_qof_count(
    coded_run: tuple[_CodeRecorder, dict[str, Any]],
) -> None:
    engine, tables = coded_run
    start = engine.scenario.run.start_year
    py = tables["person_years"]
    for y, rec in enumerate(engine.years):
        decoded = decode(rec["codes"] // N_EXTRA)
        np.testing.assert_array_equal(
            decoded["ltc_band"].astype(str),
            np.array(LTC_BANDS)[np.minimum(rec["broad"], 5)],
        )
        qof_band = rec["codes"] // (N_EXTRA // len(LTC_BANDS)) % len(LTC_BANDS)
        np.testing.assert_array_equal(qof_band, np.minimum(rec["qof"], 5))
        # person-years by band, counted from the people, equal the table's
        year = py[py["year"] == start + y]
        for column, count in (("ltc_band", rec["broad"]), ("qof_ltc_band", rec["qof"])):
            table = year.groupby(column, observed=True)["person_years"].sum()
            mine = (
                pd.Series(rec["exposure"] / 365.0)
                .groupby(np.array(LTC_BANDS)[np.minimum(count, 5)])
                .sum()
            )
            pd.testing.assert_series_equal(
                table.rename_axis(None).astype(float),
                mine.reindex(table.index.astype(str)).set_axis(table.index).rename_axis(None),
                check_names=False,
                rtol=1e-9,
                check_index_type=False,
                check_categorical=False,
            )
    # the other tables do not carry the QOF band
    assert "qof_ltc_band" not in tables["activity"].columns


def test_bridges_table_reconciles_with_activity_and_person_years(
    coded_run: tuple[_CodeRecorder, dict[str, Any]],
) -> None:
    _, tables = coded_run
    bridges, act, py = tables["bridges_to_health"], tables["activity"], tables["person_years"]
    assert list(bridges.columns) == [
        "replication",
        "year",
        "financial_year",  # the baseline runs financial years
        "segment",
        "person_years",
        "service",
        "count",
        "cost_gbp",
    ]
    keys = ["replication", "year", "service"]
    mine = bridges.groupby(keys, observed=True)[["count", "cost_gbp"]].sum()
    theirs = act.groupby(keys, observed=True)[["count", "cost_gbp"]].sum()
    assert set(mine.index) == set(theirs.index)
    pd.testing.assert_frame_equal(mine, theirs.reindex(mine.index), rtol=1e-9)
    seg_py = bridges.drop_duplicates(["replication", "year", "segment"])
    np.testing.assert_allclose(
        seg_py.groupby(["replication", "year"])["person_years"].sum().to_numpy(),
        py.groupby(["replication", "year"])["person_years"].sum().to_numpy(),
        rtol=1e-9,
    )
    assert set(bridges["segment"].astype(str)) == set(BRIDGES_SEGMENTS)


def test_compiled_counts_are_the_numpy_counts(small_population: Population) -> None:
    """QOF and broad-list counts per person (compiled passes) against numpy's."""
    from model.population import broad_count, broad_count_numpy

    pop = small_population
    np.testing.assert_array_equal(pop.ltc_count, pop.ltc.sum(axis=1, dtype=np.int8))
    rng = np.random.default_rng(2)
    ltc = rng.random(pop.ltc.shape) < 0.3
    extra = rng.integers(0, 2**24, pop.size).astype(np.uint32)
    for a, b in ((pop.ltc, pop.ltc_extra), (ltc, extra)):
        got = broad_count(a, b)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, broad_count_numpy(a, b))
