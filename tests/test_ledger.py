"""The ledger: costs and people are conserved, and the tables keep their schema."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers import RecordingEngine
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import CarescaleError
from model.ledger import (
    ACTIVITY_COLUMNS,
    CLIENT_CONTRIBUTION_SERVICES,
    PAYERS,
    REPORTING_PRICE_YEAR,
    SERVICES,
    Ledger,
    cashable_share,
    unit_cost,
    uprate,
)
from model.population import BRIDGES_SEGMENTS, SEGMENTS
from model.register import Register
from model.scenario import Scenario
from model.strata import AGE_BANDS, LTC_BANDS, decode, person_code, stratum_code

REQUIRED_SERVICES = (
    "gp_appointment",
    "ae_attendance",
    "emergency_admission",
    "elective_admission",
    "outpatient_attendance",
    "bed_day",
    "community_nursing_contact",
    "community_mental_health_contact",
    "social_care_new_request",
    "social_care_long_term_support",
)


def by_band(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(band=df["age_band"].astype(str)).set_index("band")


def nhscii(register: Register) -> dict[str, float]:
    p = register["costs.nhscii"]
    return dict(zip(p.index, p.value, strict=True))


# ----------------------------------------------------------------------------- costs


def test_every_cost_is_count_times_unit_cost(
    small_baseline_tables: dict[str, pd.DataFrame], small_baseline: Scenario
) -> None:
    act = small_baseline_tables["activity"]
    reg = small_baseline.register
    combos = act[["service", "role", "mode"]].drop_duplicates().astype(str)
    unit = {(s, r, m): unit_cost(reg, s, r, m) for s, r, m in combos.itertuples(index=False)}
    keys = zip(
        act["service"].astype(str), act["role"].astype(str), act["mode"].astype(str), strict=True
    )
    expected = act["count"].to_numpy() * np.array([unit[k] for k in keys])
    np.testing.assert_allclose(act["cost_gbp"].to_numpy(), expected, rtol=1e-12, atol=0)
    # and the costs are not trivially zero: most of the money is in costed services
    costed = {k for k, v in unit.items() if v > 0}
    assert {s for s, _, _ in costed} >= {
        "gp_appointment",
        "gp_appointment_dna",
        "ae_attendance",
        "emergency_admission",
        "elective_admission",
        "outpatient_attendance",
        "community_nursing_contact",
        "community_mental_health_contact",
        "social_care_support_day",
        "social_care_new_request",
    }
    # counts of people and bed days carry no cost of their own (no double counting with the
    # admission tariffs and the support-day cost)
    for service in (
        "bed_day",
        "overnight_stay",
        "ae_to_admission",
        "gp_spill_to_ae",
        "gp_request_abandoned",
        "mental_health_people_in_contact",
        "social_care_long_term_support",
    ):
        assert act.loc[act["service"] == service, "cost_gbp"].sum() == 0, service
    assert (act["cost_gbp"] >= 0).all() and (act["count"] > 0).all()


def test_unit_cost_lookup_and_uprating(register: Register) -> None:
    idx = nhscii(register)
    p = register["costs.gp_appointment.gp.face_to_face"]
    expected = p.scalar * idx[REPORTING_PRICE_YEAR] / idx[p.price_year]
    assert unit_cost(register, "gp_appointment", "gp", "face_to_face") == pytest.approx(expected)
    # a missed appointment uses the same staff time
    assert unit_cost(register, "gp_appointment_dna", "gp", "face_to_face") == pytest.approx(
        expected
    )
    # role-level entry when there is none for the mode
    other = register["costs.gp_appointment.other"]
    assert unit_cost(register, "gp_appointment", "other", "telephone") == pytest.approx(
        other.scalar * idx[REPORTING_PRICE_YEAR] / idx[other.price_year]
    )
    # same-day emergency stays are costed as short stays (NCC: 0-1 nights)
    assert unit_cost(register, "emergency_admission", "", "same_day") == unit_cost(
        register, "emergency_admission", "", "short_stay"
    )
    assert unit_cost(register, "emergency_admission", "", "long_stay") > unit_cost(
        register, "emergency_admission", "", "short_stay"
    )
    assert unit_cost(register, "bed_day", "", "emergency") == 0.0


def test_uprate_moves_a_cost_by_the_index_ratio(register: Register) -> None:
    idx = nhscii(register)
    assert uprate(register, 100.0, "2016/17") == pytest.approx(
        100.0 * idx["2023/24"] / idx["2016/17"]
    )
    # the index as published (PSSRU NHSCII, 2014/15 = 100): 2016/17 102.50, 2023/24 124.50
    assert uprate(register, 100.0, "2016/17") == pytest.approx(100.0 * 124.50 / 102.50)
    assert uprate(register, 100.0, "2016/17", to_year="2016/17") == pytest.approx(100.0)
    there = uprate(register, 37.0, "2016/17", to_year="2021/22")
    assert uprate(register, there, "2021/22", to_year="2016/17") == pytest.approx(37.0)


@pytest.mark.parametrize("years", [("2010/11", REPORTING_PRICE_YEAR), ("2016/17", "2030/31")])
def test_a_price_year_outside_the_index_is_refused(
    register: Register, years: tuple[str, str]
) -> None:
    bad = years[0] if years[0] == "2010/11" else years[1]
    with pytest.raises(CarescaleError) as info:
        uprate(register, 10.0, years[0], to_year=years[1])
    message = str(info.value)
    assert f"'{bad}'" in message and "NHS Cost Inflation Index" in message
    assert "2014/15" in message and "2024/25" in message  # what is allowed
    assert "\n" not in message and message.endswith(".")


# ----------------------------------------------------------------------------- people


@pytest.fixture(scope="module")
def people_run(baseline_scenario: Scenario) -> tuple[RecordingEngine, dict[str, pd.DataFrame]]:
    engine = RecordingEngine(baseline_scenario.with_run(population=10_000, years=3), 0)
    return engine, engine.run()


def test_person_years_and_deaths_match_the_people_alive(
    people_run: tuple[RecordingEngine, dict[str, pd.DataFrame]], small_baseline: Scenario
) -> None:
    engine, tables = people_run
    py = tables["person_years"].groupby("year")[["person_years", "deaths"]].sum()
    start = engine.scenario.run.start_year
    assert py.index.tolist() == [start, start + 1, start + 2]
    for y, rec in enumerate(engine.years):
        n = rec["person_id"].size
        dd = rec["death_day"]
        dies = dd >= 0
        deaths = int(dies.sum())
        assert deaths > 0
        entry = rec["entry_day"].astype(np.int64)
        joined = entry > 0
        assert joined.any()  # the year's entrants arrive through the year
        # exactly: everyone counts the days from their arrival (0 for most) to their death
        # (or the year's end)
        end = np.where(dies, dd.astype(np.int64), 365)
        assert (end >= entry).all()
        exact = (end - entry).sum() / 365
        assert py.loc[start + y, "person_years"] == pytest.approx(exact, rel=1e-12)
        # and so about N - D/2 - E/2: death and arrival days are uniform over the year, so
        # each dead person or entrant has mean exposure about half a year, SD sqrt(1/12);
        # allow 5 SD (+ 1 for rounding)
        half = (deaths + int(joined.sum())) / 2
        assert abs(py.loc[start + y, "person_years"] - (n - half)) <= (
            5 * np.sqrt(2 * half / 12) + 1
        )
        assert py.loc[start + y, "deaths"] == deaths, f"year {start + y}"


def test_the_dead_leave_and_entrants_join_at_each_boundary(
    people_run: tuple[RecordingEngine, dict[str, pd.DataFrame]],
) -> None:
    engine, _ = people_run
    for y in range(len(engine.years) - 1):
        before, after = engine.years[y], engine.years[y + 1]
        ids0, ids1 = before["person_id"], after["person_id"]
        dead = set(ids0[before["death_day"] >= 0].tolist())
        removed = set(ids0.tolist()) - set(ids1.tolist())
        assert removed == dead
        entrants = np.setdiff1d(ids1, ids0)
        assert entrants.size > 0 and entrants.min() > ids0.max()  # new ids, never reused
        # survivors + entrants = the next year's population
        assert ids1.size == ids0.size - len(dead) + entrants.size
        assert after["births"] > 0
    # ids stay sorted (services look people up by binary search)
    for rec in engine.years:
        assert np.all(np.diff(rec["person_id"]) > 0)


# ----------------------------------------------------------------------------- schema


def test_activity_columns_and_services(small_baseline_tables: dict[str, pd.DataFrame]) -> None:
    act = small_baseline_tables["activity"]
    # the baseline runs financial years: their label follows the year (model.years)
    assert tuple(act.columns) == (*ACTIVITY_COLUMNS[:2], "financial_year", *ACTIVITY_COLUMNS[2:])
    services = set(act["service"].astype(str))
    assert services <= set(SERVICES)
    assert set(REQUIRED_SERVICES) <= services
    pairs = act[["service", "setting", "payer"]].drop_duplicates().astype(str)
    for service, setting, payer in pairs.itertuples(index=False):
        if payer == "person":  # client contributions to long-term social care
            assert service in CLIENT_CONTRIBUTION_SERVICES and setting == "social_care", service
            continue
        assert (setting, payer) == SERVICES[service], service
    assert set(act["payer"].astype(str)) <= set(PAYERS)


def test_client_contributions_split_support_days_between_payers(
    small_baseline_tables: dict[str, pd.DataFrame], small_baseline: Scenario
) -> None:
    act = small_baseline_tables["activity"]
    share = small_baseline.register.scalar("costs.social_care_client_contribution_share")
    days = act[act["service"] == "social_care_support_day"]
    by_payer = days.groupby("payer", observed=True)[["count", "cost_gbp"]].sum()
    assert set(by_payer.index) == {"la_social_care", "person"}
    total = by_payer.sum()
    assert by_payer.loc["person", "cost_gbp"] == pytest.approx(share * total["cost_gbp"])
    assert by_payer.loc["la_social_care", "cost_gbp"] == pytest.approx(
        (1 - share) * total["cost_gbp"]
    )
    # the support days themselves are counted once over the payers' rows
    assert by_payer.loc["person", "count"] == pytest.approx(share * total["count"])
    # nothing else is shared with the person
    assert set(act.loc[act["payer"] == "person", "service"].astype(str)) == {
        "social_care_support_day"
    }


def test_cashable_is_the_registered_share_of_cost(
    small_baseline_tables: dict[str, pd.DataFrame], small_baseline: Scenario
) -> None:
    act = small_baseline_tables["activity"]
    reg = small_baseline.register
    services = act["service"].astype(str)
    share = services.map(lambda s: cashable_share(reg, s)).to_numpy(dtype=float)
    np.testing.assert_allclose(act["cashable_gbp"], act["cost_gbp"] * share, rtol=1e-12)
    # every costed service has a registered share, and they differ (beds are not cash)
    costed = set(services[act["cost_gbp"] > 0])
    assert all(f"cashable.{s}" in reg for s in costed - {"gp_appointment_dna"}), costed
    assert cashable_share(reg, "social_care_support_day") > cashable_share(
        reg, "emergency_admission"
    )
    assert act["cashable_gbp"].sum() < act["cost_gbp"].sum()


def test_social_care_is_uprated_with_the_pss_index(register: Register) -> None:
    p = register["costs.social_care_support_day"]
    pss = dict(
        zip(register["costs.pss_index"].index, register["costs.pss_index"].value, strict=True)
    )
    expected = p.scalar * pss[REPORTING_PRICE_YEAR] / pss[p.price_year]
    assert unit_cost(register, "social_care_support_day", "", "") == pytest.approx(expected)
    # and not with the NHS index, which rose less over 2022/23 to 2023/24
    idx = nhscii(register)
    assert expected > p.scalar * idx[REPORTING_PRICE_YEAR] / idx[p.price_year]


def test_strata_values(small_baseline_tables: dict[str, pd.DataFrame]) -> None:
    bands = [
        "0-4",
        "5-9",
        "10-14",
        "15-19",
        "20-24",
        "25-29",
        "30-34",
        "35-39",
        "40-44",
        "45-49",
        "50-54",
        "55-59",
        "60-64",
        "65-69",
        "70-74",
        "75-79",
        "80-84",
        "85+",
    ]
    assert list(AGE_BANDS) == bands
    assert list(LTC_BANDS) == ["0", "1", "2", "3", "4", "5+"]
    for name in ("activity", "person_years"):
        df = small_baseline_tables[name]
        assert set(df["age_band"].astype(str)) <= set(bands), name
        assert set(df["ltc_band"].astype(str)) <= set(LTC_BANDS), name
        assert set(df["sex"].astype(str)) <= {"male", "female"}, name
        assert set(df["activation_level"].tolist()) <= {1, 2, 3, 4}, name
        assert set(df["imd_quintile"].tolist()) <= {1, 2, 3, 4, 5}, name
        segments = set(df["segment"].astype(str))
        assert segments <= set(SEGMENTS), name
        assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", s) for s in segments), name
    # 20,000 people cover every age band, quintile, level and segment
    py = small_baseline_tables["person_years"]
    assert set(py["age_band"].astype(str)) == set(bands)
    assert set(py["imd_quintile"].tolist()) == {1, 2, 3, 4, 5}
    assert set(py["activation_level"].tolist()) == {1, 2, 3, 4}
    assert set(py["segment"].astype(str)) == set(SEGMENTS)


def test_strata_codes_round_trip() -> None:
    age = np.array([0, 4, 5, 37, 84, 85, 100])
    sex = np.array([0, 1, 0, 1, 0, 1, 0])
    imd = np.array([1, 2, 3, 4, 5, 1, 5])
    ltc = np.array([0, 1, 2, 5, 9, 3, 4])
    level = np.array([1, 2, 3, 4, 1, 2, 4])
    segment = np.array([0, 1, 2, 3, 0, 3, 2])
    frame = decode(stratum_code(age, sex, imd, ltc, level, segment))
    assert frame["age_band"].astype(str).tolist() == [
        "0-4",
        "0-4",
        "5-9",
        "35-39",
        "80-84",
        "85+",
        "85+",
    ]
    assert frame["sex"].astype(str).tolist() == ["male", "female"] * 3 + ["male"]
    assert frame["imd_quintile"].tolist() == imd.tolist()
    assert frame["ltc_band"].astype(str).tolist() == ["0", "1", "2", "5+", "5+", "3", "4"]
    assert frame["activation_level"].tolist() == level.tolist()
    assert frame["segment"].astype(str).tolist() == [SEGMENTS[s] for s in segment]


def test_a_death_on_the_first_day_is_counted(register: Register) -> None:
    """Someone dying on day 0 adds no person-time; their death must still be recorded, even
    when nobody else is in their stratum."""
    ledger = Ledger(register, replication=0, start_year=2024)
    ledger.start_year_(0)
    ledger.person_years(np.array([5, 6]), np.array([1.0, 0.0]), np.array([False, True]))
    ledger.end_year({}, {}, 0.0)
    py = ledger.tables()["person_years"]
    assert py["deaths"].sum() == 1
    assert py["person_years"].sum() == 1.0


def test_ledger_counts_weights_and_costs_by_stratum(register: Register) -> None:
    ledger = Ledger(register, replication=3, start_year=2030)
    ledger.start_year_(1)
    # person codes: the stratum with a QOF count band of 2 and Bridges segment 4 (a), or 0s (b)
    stratum = stratum_code(*(np.array([v]) for v in (40, 1, 2, 1, 3, 0)))
    a, b = person_code(stratum, np.array([2]), np.array([4]))[0], 0
    ledger.count("gp_appointment", np.array([a, a, b, a]), "gp", "telephone")
    ledger.count("gp_appointment", np.array([b]), "gp", "telephone")
    ledger.count("bed_day", np.array([a, b]), mode="emergency", weight=np.array([5.0, 2.0]))
    ledger.count("bed_day", np.array([a]), mode="emergency", weight=np.array([1.0]))
    ledger.count("ae_attendance", np.array([], dtype=np.int64), mode="type_1_2")  # no rows
    ledger.person_years(
        np.array([a, a, b]), np.array([1.0, 0.5, 1.0]), np.array([False, True, False])
    )
    ledger.waits("gp_appointment", np.array([0.0, 2.0, 4.0]), np.zeros(3, dtype=np.int64))
    ledger.end_year({"gp_appointment": 7}, {"gp_appointment": (10.0, 5.0)}, 0.0)
    tables = ledger.tables()
    act = tables["activity"]
    assert tuple(act.columns) == ACTIVITY_COLUMNS
    assert (act["replication"] == 3).all() and (act["year"] == 2031).all()
    gp = act[act["service"] == "gp_appointment"].pipe(by_band)
    assert gp.loc["40-44", "count"] == 3 and gp.loc["0-4", "count"] == 2
    cost = unit_cost(register, "gp_appointment", "gp", "telephone")
    assert gp.loc["40-44", "cost_gbp"] == pytest.approx(3 * cost)
    beds = act[act["service"] == "bed_day"].pipe(by_band)
    assert beds.loc["40-44", "count"] == 6.0 and beds.loc["0-4", "count"] == 2.0
    assert "ae_attendance" not in set(act["service"].astype(str))
    row = act[act["age_band"] == "40-44"].iloc[0]
    assert (
        row["sex"],
        row["imd_quintile"],
        row["ltc_band"],
        row["activation_level"],
        row["segment"],
    ) == ("female", 2, "1", 3, SEGMENTS[0])
    assert tables["person_years"].set_index("age_band")["qof_ltc_band"].astype(str).to_dict() == {
        "0-4": "0",
        "40-44": "2",
    }
    bridges = tables["bridges_to_health"].set_index(["segment", "service"])
    assert bridges.loc[(BRIDGES_SEGMENTS[4], "gp_appointment"), "count"] == 3
    assert bridges.loc[(BRIDGES_SEGMENTS[0], "gp_appointment"), "count"] == 2
    assert bridges.loc[(BRIDGES_SEGMENTS[4], "bed_day"), "cost_gbp"] == pytest.approx(
        beds.loc["40-44", "cost_gbp"]
    )
    assert bridges.loc[(BRIDGES_SEGMENTS[4], "bed_day"), "person_years"] == 1.5
    py = tables["person_years"].pipe(by_band)
    assert py.loc["40-44", "person_years"] == 1.5 and py.loc["40-44", "deaths"] == 1
    assert py.loc["0-4", "person_years"] == 1.0 and py.loc["0-4", "deaths"] == 0
    waits = tables["waits"].iloc[0]
    assert (waits["served"], waits["mean_wait_days"], waits["backlog_end"]) == (3, 2.0, 7)
    capacity = tables["capacity"].iloc[0]
    assert capacity["utilisation"] == 0.5 and np.isnan(capacity["mean_occupied_beds"])


def test_entrants_have_only_the_part_of_the_year_after_they_arrive(
    people_run: tuple[RecordingEngine, dict[str, pd.DataFrame]],
) -> None:
    engine, _ = people_run
    for rec in engine.years:
        entry = rec["entry_day"].astype(np.int64)
        joined = np.flatnonzero(entry > 0)
        # arrival days spread over the year (uniform: mean about 182)
        assert joined.size > 30 and 120 < entry[joined].mean() < 245
        # nobody dies before arriving
        dd = rec["death_day"].astype(np.int64)
        assert ((dd < 0) | (dd >= entry)).all()
        # and no demand falls before an entrant's arrival
        n_events = 0
        for ev in rec["events"].values():
            assert (ev.day >= entry[ev.person]).all()
            n_events += int(np.isin(ev.person, joined).sum())
        assert n_events > 0


# ----------------------------------------------------------------------------- compiled tallies


def test_compiled_tallies_count_what_numpy_bincounts_count() -> None:
    """The ledger's compiled histogram adds (``model._ledger_kernels``) against the numpy
    cells they replace, and cells out of range are refused."""
    from model import _ledger_kernels as lk
    from model.ledger import BOOKINGS, WAIT_BANDS
    from model.strata import (
        N_BRIDGES,
        N_CODES,
        N_EXTRA,
        N_IMD,
        N_SEGMENTS,
        N_STRATA,
        imd_and_segment,
    )

    rng = np.random.default_rng(5)
    codes = rng.integers(0, N_CODES, 20_000).astype(np.int32)
    by_stratum, by_bridges = np.zeros(N_STRATA, np.int64), np.zeros(N_BRIDGES, np.int64)
    lk.add_codes(codes, by_stratum, by_bridges)
    np.testing.assert_array_equal(by_stratum, np.bincount(codes // N_EXTRA, minlength=N_STRATA))
    np.testing.assert_array_equal(by_bridges, np.bincount(codes % N_BRIDGES, minlength=N_BRIDGES))
    labels = 9
    keys = rng.integers(0, labels, codes.size) * N_CODES + codes
    by_stratum = np.zeros(labels * N_STRATA, np.int64)
    by_bridges = np.zeros(labels * N_BRIDGES, np.int64)
    lk.add_keys(keys, labels, by_stratum, by_bridges)
    code, person = keys // N_CODES, keys % N_CODES
    np.testing.assert_array_equal(
        by_stratum, np.bincount(code * N_STRATA + person // N_EXTRA, minlength=by_stratum.size)
    )
    np.testing.assert_array_equal(
        by_bridges, np.bincount(code * N_BRIDGES + person % N_BRIDGES, minlength=by_bridges.size)
    )
    size = len(BOOKINGS) * N_SEGMENTS * N_IMD * len(WAIT_BANDS)
    band = rng.integers(0, len(WAIT_BANDS), codes.size)
    for booking in (None, rng.integers(0, len(BOOKINGS), codes.size)):
        counts = np.zeros(size, np.int64)
        lk.add_waits(codes, booking, band, len(WAIT_BANDS), counts)
        imd, seg = imd_and_segment(codes)
        kind = 0 if booking is None else booking
        cells = ((kind * N_SEGMENTS + seg) * N_IMD + imd) * len(WAIT_BANDS) + band
        np.testing.assert_array_equal(counts, np.bincount(cells, minlength=size))
    with pytest.raises(ValueError, match="person codes"):
        lk.add_codes(np.array([N_CODES]), np.zeros(N_STRATA, np.int64), by_bridges)
    with pytest.raises(ValueError, match="ledger keys"):
        lk.add_keys(np.array([labels * N_CODES]), labels, by_stratum, by_bridges)
    with pytest.raises(ValueError, match="wait cells"):
        lk.add_waits(np.array([0]), np.array([len(BOOKINGS)]), np.array([0]), 6, counts)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), spread=st.integers(0, 400))
def test_waits_counted_by_day_give_numpys_mean_and_centile(seed: int, n: int, spread: int) -> None:
    """The waits table's mean and 90th centile from counts by day are the numbers
    ``np.mean`` and ``np.quantile`` give for the waits themselves."""
    from model.ledger import _WaitDays, quantile_of_counts

    rng = np.random.default_rng(seed)
    waits = rng.integers(0, spread + 1, n).astype(float)
    days = _WaitDays()
    for part in np.array_split(waits, 3):
        days.add(part)
    served, mean, p90 = days.summary()
    assert served == n
    assert mean == float(waits.mean())
    assert p90 == float(np.quantile(waits, 0.9))
    values, counts = np.unique(waits, return_counts=True)
    for q in (0.0, 0.1, 0.5, 0.75, 0.9, 0.99, 1.0):
        assert quantile_of_counts(values, counts, q) == float(np.quantile(waits, q))


def test_waits_must_be_whole_days() -> None:
    from model.ledger import _WaitDays

    bad_waits = [np.array(bad) for bad in ([1.5], [-1.0], [np.nan], [3.0, np.inf], [2.0**40, 1.0])]
    bad_waits += [np.array([2, 900, -3], dtype=t) for t in (np.int16, np.int32, np.int64)]
    for bad in bad_waits:
        days = _WaitDays()
        with pytest.raises(ValueError, match="whole numbers of days"):
            days.add(bad)
        assert days.counts.sum() == 0  # nothing counted


def test_waits_beyond_the_counts_grow_them() -> None:
    from model.ledger import _WaitDays

    days = _WaitDays()
    days.add(np.array([3, 0, 200, 3], dtype=np.int16))
    days.add(np.array([1000.0]))
    assert days.counts.size == 1001
    days.add(np.array([7, 1500], dtype=np.int32))
    assert days.counts.size == 2002
    days.add(np.array([7], dtype=np.int64))
    assert days.counts[[0, 3, 7, 200, 1000, 1500]].tolist() == [1, 2, 2, 1, 1, 1]
    assert days.counts.sum() == 8


def test_repeated_is_the_categorical_of_a_repeated_value() -> None:
    from model.ledger import _repeated

    for value in ("lever", "", "primary_care"):
        for n in (0, 1, 7):
            want = pd.Categorical([value] * n)
            got = _repeated(value, n)
            assert got.dtype == want.dtype and got.codes.dtype == want.codes.dtype
            assert list(got.categories) == list(want.categories)
            assert got.categories.dtype == want.categories.dtype
            np.testing.assert_array_equal(got.codes, want.codes)
