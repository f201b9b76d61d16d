"""Validation of simulated output against the calibration targets of EVIDENCE §12.

Each check is a pure function of a population (or, later, of run results) and the register:
target, simulated value, tolerance, pass/fail. Targets and tolerances come from the register
(``targets.*`` or the input entry that *is* the published figure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import tables
from model.population import CONDITIONS, Population
from model.register import Register


@dataclass(frozen=True)
class Check:
    """One target compared with the simulation."""

    group: str
    name: str
    target: float
    simulated: float
    tolerance: float
    unit: str
    source_key: str

    @property
    def low(self) -> float:
        """Lowest accepted value."""
        return self.target - self.tolerance

    @property
    def high(self) -> float:
        """Highest accepted value."""
        return self.target + self.tolerance

    @property
    def passed(self) -> bool:
        """True when the simulated value lies within the tolerance."""
        return bool(np.isfinite(self.simulated)) and self.low <= self.simulated <= self.high


def checks_frame(checks: Sequence[Check]) -> pd.DataFrame:
    """Checks as a tidy table (one row per target)."""
    return pd.DataFrame(
        {
            "group": [c.group for c in checks],
            "target_name": [c.name for c in checks],
            "target": [c.target for c in checks],
            "simulated": [c.simulated for c in checks],
            "tolerance": [c.tolerance for c in checks],
            "low": [c.low for c in checks],
            "high": [c.high for c in checks],
            "unit": [c.unit for c in checks],
            "result": ["pass" if c.passed else "FAIL" for c in checks],
            "register_key": [c.source_key for c in checks],
        }
    )


def _target(register: Register, key: str, group: str, name: str, simulated: float) -> Check:
    p = register[key]
    tol = p.tolerance if p.tolerance is not None else 0.0
    if p.relative_tolerance:
        tol *= p.scalar
    return Check(group, name, p.scalar, float(simulated), tol, p.unit, key)


def _share(mask: np.ndarray, among: np.ndarray | None = None) -> float:
    if among is None:
        return float(mask.mean()) if mask.size else float("nan")
    n = int(among.sum())
    return float(mask[among].sum() / n) if n else float("nan")


def population_checks(pop: Population, register: Register) -> list[Check]:
    """Every population target of EVIDENCE §12 (items 1, 8, 9, 10)."""
    r = register
    age = pop.age
    checks = [
        _target(
            r, "targets.population.share_65_plus", "age/sex", "share aged 65+", _share(age >= 65)
        ),
        _target(
            r,
            "targets.population.share_under_15",
            "age/sex",
            "share aged under 15",
            _share(age < 15),
        ),
        _target(
            r, "targets.population.share_female", "age/sex", "share female", _share(pop.sex == 1)
        ),
    ]
    # life expectancy implied by the mortality input (ONS NLT 2021-23), not by sampling
    qx = tables.qx("2021-2023")
    for s, sex in enumerate(("male", "female")):
        checks.append(
            _target(
                r,
                f"targets.population.life_expectancy_{sex}",
                "mortality",
                f"life expectancy at birth, {sex}s (life-table input)",
                tables.life_expectancy_at_birth(qx[s]),
            )
        )
    rel = r.scalar("targets.population.qof_prevalence_tolerance")
    rel_small = r.scalar("targets.population.qof_prevalence_tolerance_below_1pct")
    for j, name in enumerate(CONDITIONS):
        key = f"ltc.{name}.prevalence"
        target = r.scalar(key)
        min_age = int(r.scalar(f"ltc.{name}.min_age"))
        base = "all ages" if min_age == 0 else f"aged {min_age}+"
        tol = target * (rel_small if target < 0.01 else rel)
        checks.append(
            Check(
                "QOF prevalence",
                f"{name} ({base})",
                target,
                _share(pop.ltc[:, j], age >= min_age),
                tol,
                "proportion",
                key,
            )
        )
    count = pop.ltc_count
    adult = age >= 18
    mm = count >= 2
    checks += [
        _target(
            r,
            "targets.population.multimorbidity_adults",
            "multimorbidity",
            "adults with 2+ QOF conditions",
            _share(mm, adult),
        ),
        _target(
            r,
            "targets.population.multimorbidity_adults_imd1",
            "multimorbidity",
            "adults with 2+, IMD quintile 1",
            _share(mm, adult & (pop.imd == 1)),
        ),
        _target(
            r,
            "targets.population.multimorbidity_adults_imd5",
            "multimorbidity",
            "adults with 2+, IMD quintile 5",
            _share(mm, adult & (pop.imd == 5)),
        ),
        _target(
            r,
            "targets.population.multimorbidity_65_74",
            "multimorbidity",
            "aged 65-74 with 2+",
            _share(mm, (age >= 65) & (age <= 74)),
        ),
    ]
    with_ltc = adult & (count > 0)
    shares = r["activation.level_shares_ltc"]
    tol = r.scalar("targets.population.pam_level_share_tolerance")
    for level, (label, target) in enumerate(zip(shares.index, shares.value, strict=True), 1):
        checks.append(
            Check(
                "activation",
                f"PAM {label} among adults with LTCs",
                target,
                _share(pop.pam_level == level, with_ltc),
                tol,
                "proportion",
                "activation.level_shares_ltc",
            )
        )
    return checks


def population_summary(pop: Population) -> pd.DataFrame:
    """Descriptive shares that have no published target (segments, needs, eligibility)."""
    from model.population import SEGMENTS

    rows = [("people", "count", float(pop.size))]
    rows += [("segment", s, _share(pop.segment == i)) for i, s in enumerate(SEGMENTS)]
    adult16 = pop.age >= 16
    rows.append(("social need (16+)", "isolation", _share(pop.isolation, adult16)))
    rows.append(("social need (16+)", "financial", _share(pop.financial, adult16)))
    rows.append(("social need (all ages)", "housing", _share(pop.housing)))
    rows.append(("PHB eligibility (18+)", "chc", _share(pop.chc, pop.age >= 18)))
    rows.append(("PHB eligibility (all ages)", "s117", _share(pop.s117)))
    rows.append(("PHB eligibility (all ages)", "wheelchair", _share(pop.wheelchair)))
    rows.append(
        (
            "activation",
            "mean PAM score, adults with LTCs",
            float(pop.pam_score[(pop.age >= 18) & (pop.ltc_count > 0)].mean()),
        )
    )
    return pd.DataFrame(rows, columns=["group", "measure", "value"])
