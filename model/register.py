"""The evidence register: every default number the model uses, with unit, source and confidence.

The register lives in TOML files inside the package (``model/parameters/*.toml``), one file
per group. A table with a ``value`` key is one parameter; any other table groups parameters.
Each parameter has::

    value        a number, or a list of numbers with ``index`` labels
    unit         e.g. "proportion", "per person-year", "GBP per attendance" (required)
    range        the values the entry's meaning allows, in interval notation (required):
                 "[0, 1]", "(0, inf)", "(-1, 1)", "[0, 365]"; "[" "]" closed, "(" ")" open,
                 "inf" and "-inf" only with an open bracket
    description  what the number is (required)
    source       author, year, title, table -- or "Assumption: <why>" (required)
    evidence     where in EVIDENCE.md it is discussed, e.g. "EVIDENCE §4a"
    confidence   H, M, L, D (derived) or A (assumption) (required)
    price_year   for costs (units starting with "GBP"), e.g. "2022/23" (required for costs)
    uncertainty  {distribution, low, high, level} for sensitivity analysis (required)
    tolerance    for calibration targets: the accepted absolute (or relative) deviation
    relative_tolerance  true if ``tolerance`` is relative to the value
    kind         for validation targets: input, calibrated or held_out (``TARGET_KINDS``)

The loader validates every entry and refuses a bad file with one sentence naming the file, the
key, the value and what is allowed. The ``range`` must fit the unit (``UNIT_FAMILIES``: a
probability within [0, 1], a cost at least 0, a ratio above 0, ...); every value, and every
end of the uncertainty interval, must lie within the range, and ``sample_uncertainty`` draws
only values within it (out-of-range draws are redrawn). The ``Register`` is immutable;
scenario overrides return a new register whose values are checked against the same ranges.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import special

from model.errors import RegisterError, cut

CONFIDENCE_CODES: Mapping[str, str] = MappingProxyType(
    {"H": "high", "M": "medium", "L": "low", "D": "derived", "A": "assumption"}
)
ENTRY_FIELDS = frozenset(
    {
        "value",
        "unit",
        "range",
        "description",
        "source",
        "evidence",
        "confidence",
        "price_year",
        "uncertainty",
        "index",
        "note",
        "tolerance",
        "relative_tolerance",
        "kind",
    }
)
#: what a validation target is: set by an input from the same statistic, fitted to, or used by
#: no fit (the ``kind`` field of ``targets.*`` entries)
TARGET_KINDS = ("input", "calibrated", "held_out")
REQUIRED_FIELDS = ("unit", "range", "description", "source", "confidence", "uncertainty")
UNCERTAINTY_FIELDS = frozenset({"distribution", "low", "high", "level", "concentration"})
DISTRIBUTIONS = frozenset(
    {"fixed", "normal", "lognormal", "beta", "gamma", "uniform", "triangular", "dirichlet"}
)
#: units whose values must each lie in [0, 1] (enforced through UNIT_FAMILIES and the range)
PROBABILITY_UNITS = frozenset({"probability", "proportion"})
#: units whose vector values must lie in [0, 1] and sum to 1
SHARE_UNITS = frozenset({"shares"})
_SHARE_SUM_TOLERANCE = 1e-3
#: values echoed in messages are cut to this many characters
_ECHO_CHARS = 80


def _cut(text: str, limit: int = _ECHO_CHARS) -> str:
    return cut(text, limit)


def _fmt(value: object) -> str:
    """A value echoed in a message (text quoted), on one line, cut to 80 characters."""
    return _cut(repr(value) if isinstance(value, str) else " ".join(str(value).split()))


def _num(x: float) -> str:
    """A number as short as possible but exact: ``1e+09``, ``0.1``, ``1.0000001``."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    short = f"{x:g}"
    return _cut(short if float(short) == x else repr(float(x)))


_RANGE_NUMBER = r"[+-]?(?:inf|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_RANGE_PATTERN = re.compile(
    r"\s*([\[(])\s*(" + _RANGE_NUMBER + r")\s*,\s*(" + _RANGE_NUMBER + r")\s*([\])])\s*"
)
_RANGE_EXAMPLE = '"[0, 1]" or "(0, inf)"'


@dataclass(frozen=True)
class AllowedRange:
    """The values a register entry's meaning allows: an interval, open or closed at each end.

    Written in interval notation, e.g. ``[0, 1]``, ``(0, inf)``, ``(-1, 1)``; ``str()``
    gives the notation back.
    """

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    @classmethod
    def parse(cls, text: str) -> AllowedRange:
        """The range written as ``text``; ``ValueError`` (with the reason) if malformed."""
        match = _RANGE_PATTERN.fullmatch(text)
        if match is None:
            raise ValueError(
                f"write an interval such as {_RANGE_EXAMPLE}, with [ ] for a closed end and "
                "( ) for an open end"
            )
        left, low_text, high_text, right = match.groups()
        low, high = float(low_text), float(high_text)
        low_open, high_open = left == "(", right == ")"
        if (math.isinf(low) and not low_open) or (math.isinf(high) and not high_open):
            raise ValueError('an infinite end needs an open bracket, e.g. "(0, inf)"')
        if not low < high:
            raise ValueError("the low end must be below the high end")
        return cls(low, high, low_open, high_open)

    def contains(self, x: float) -> bool:
        """True if ``x`` is a number within the range (NaN never is)."""
        above = self.low < x if self.low_open else self.low <= x
        below = x < self.high if self.high_open else x <= self.high
        return bool(above and below)

    def contains_array(self, x: np.ndarray) -> np.ndarray:
        """Element-wise ``contains`` (False for NaN)."""
        above = self.low < x if self.low_open else self.low <= x
        below = x < self.high if self.high_open else x <= self.high
        return np.asarray(above & below)

    def within(self, other: AllowedRange) -> bool:
        """True if every value of this range is also in ``other``."""
        low_ok = self.low > other.low or (
            self.low == other.low and (self.low_open or not other.low_open)
        )
        high_ok = self.high < other.high or (
            self.high == other.high and (self.high_open or not other.high_open)
        )
        return low_ok and high_ok

    def clip(self, x: np.ndarray) -> np.ndarray:
        """``x`` moved to the nearest value within the range (an open end just inside it)."""
        low = float(np.nextafter(self.low, np.inf)) if self.low_open else self.low
        high = float(np.nextafter(self.high, -np.inf)) if self.high_open else self.high
        return np.clip(x, low, high)

    def __str__(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{_num(self.low)}, {_num(self.high)}{right}"


#: the range of an entry built in code without one (every value allowed)
UNBOUNDED = AllowedRange(-math.inf, math.inf, True, True)


@dataclass(frozen=True)
class UnitFamily:
    """A family of units and the widest range any unit of the family allows."""

    name: str
    pattern: str  # a regular expression searched in the unit, ignoring case
    widest: AllowedRange

    def matches(self, unit: str) -> bool:
        """True if ``unit`` belongs to this family."""
        return re.search(self.pattern, unit, re.IGNORECASE) is not None


#: unit families, first match wins; an entry's range must lie within its family's range
UNIT_FAMILIES: tuple[UnitFamily, ...] = (
    UnitFamily("probability", r"^(probability|proportion|shares?)\b", AllowedRange(0.0, 1.0)),
    UnitFamily("cost", r"^GBP\b", AllowedRange(0.0, math.inf, high_open=True)),
    UnitFamily("correlation", r"^correlation\b", AllowedRange(-1.0, 1.0)),
    UnitFamily("score", r"^PAM score\b", AllowedRange(0.0, 100.0)),
    UnitFamily(
        "positive",
        r"^(ratio|rate ratio|hazard ratio|odds ratio|relative rate|multiplier|gamma shape"
        r"|index)\b",
        AllowedRange(0.0, math.inf, True, True),
    ),
    UnitFamily(
        "duration", r"^(days|years|months|minutes)\b", AllowedRange(0.0, math.inf, high_open=True)
    ),
    # a lever's effect on a demand rate: -0.28 is 28 % fewer events; -1 removes them all
    UnitFamily(
        "relative change", r"^relative change\b", AllowedRange(-1.0, math.inf, high_open=True)
    ),
    # a multiplier that may reverse the sign of what it multiplies (effects by segment)
    UnitFamily("signed multiplier", r"^signed multiplier\b", UNBOUNDED),
    UnitFamily("list size", r"^patients per\b", AllowedRange(0.0, math.inf, True, True)),
    UnitFamily("count", r"^attempts\b", AllowedRange(0.0, math.inf, high_open=True)),
    UnitFamily("staffing", r"^FTE per\b", AllowedRange(0.0, math.inf, high_open=True)),
    UnitFamily("coefficient", r"^(probit units|SD of)\b", UNBOUNDED),
    UnitFamily(
        "net flow",
        r"^net\b.* per (1,000 )?(people|person)\b",
        AllowedRange(-1.0, math.inf, high_open=True),
    ),
    UnitFamily(
        "count rate",
        r"\bper (1,000 )?(people|person|women)\b",
        AllowedRange(0.0, math.inf, high_open=True),
    ),
)


def unit_family(unit: str) -> UnitFamily | None:
    """The family of ``unit`` (None for a unit outside every family: any range is allowed)."""
    return next((f for f in UNIT_FAMILIES if f.matches(unit)), None)


def parse_range(raw: object, file: str, key: str, unit: str) -> AllowedRange:
    """An entry's ``range`` field, checked against its unit; ``RegisterError`` if bad."""
    if not isinstance(raw, str):
        raise RegisterError(
            f"{file}: '{key}.range' is {_fmt(raw)}; it must be text such as {_RANGE_EXAMPLE}."
        )
    try:
        allowed = AllowedRange.parse(raw)
    except ValueError as exc:
        raise RegisterError(f"{file}: '{key}.range' is {_fmt(raw)}; {exc}.") from None
    family = unit_family(unit)
    if family is not None and not allowed.within(family.widest):
        raise RegisterError(
            f"{file}: '{key}.range' {allowed} does not fit its unit '{_cut(unit)}', which "
            f"allows only values in {family.widest}."
        )
    return allowed


@dataclass(frozen=True)
class Uncertainty:
    """An uncertainty distribution for probabilistic sensitivity analysis.

    For normal, lognormal, beta and gamma, ``low``/``high`` are the central ``level``
    interval (default 80 %). For uniform and triangular they are the bounds. ``fixed``
    means the value is treated as known (e.g. a definition or a count). ``dirichlet``
    applies to share vectors, with ``concentration`` the sum of the Dirichlet parameters.
    """

    distribution: str
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    level: float = 0.8
    concentration: float | None = None

    def describe(self) -> str:
        """Short human-readable form, e.g. ``beta 80% [0.13, 0.15]``."""
        if self.distribution == "fixed":
            return "fixed"
        if self.distribution == "dirichlet":
            return f"dirichlet (concentration {self.concentration:g})"
        assert self.low is not None and self.high is not None
        lo = ", ".join(f"{v:.4g}" for v in self.low)
        hi = ", ".join(f"{v:.4g}" for v in self.high)
        if self.distribution in ("uniform", "triangular"):
            return f"{self.distribution} [{lo} to {hi}]"
        return f"{self.distribution} {self.level:.0%} [{lo} to {hi}]"


@dataclass(frozen=True)
class Parameter:
    """One entry of the evidence register (immutable)."""

    key: str
    value: tuple[float, ...]
    is_vector: bool
    unit: str
    description: str
    source: str
    confidence: str
    uncertainty: Uncertainty
    evidence: str = ""
    price_year: str = ""
    index: tuple[str, ...] = ()
    note: str = ""
    tolerance: float | None = None
    relative_tolerance: bool = False
    kind: str = ""
    file: str = ""
    range: AllowedRange = UNBOUNDED

    @property
    def group(self) -> str:
        """The register group (the parameter file's stem)."""
        return self.key.split(".", 1)[0]

    @property
    def scalar(self) -> float:
        """The value of a scalar parameter."""
        if self.is_vector:
            raise RegisterError(
                f"parameter '{self.key}' is a vector ({len(self.value)} values), "
                "but a single number was asked for."
            )
        return self.value[0]

    @property
    def array(self) -> np.ndarray:
        """The values as a read-only float array (length 1 for a scalar)."""
        arr = np.array(self.value, dtype=float)
        arr.flags.writeable = False
        return arr

    def display_value(self) -> str:
        """The value as printed in tables."""
        if self.is_vector:
            return "; ".join(f"{k} {v:.4g}" for k, v in zip(self.index, self.value, strict=True))
        return f"{self.value[0]:.6g}"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values from the uncertainty distribution, shape ``(n, len(value))``."""
        return sample_uncertainty(self, rng, n)


def _z(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2.0))  # the normal quantile (stats.norm.ppf)


#: rounds of redrawing out-of-range values before the last resort (moving them inside)
MAX_REDRAWS = 50


def sample_uncertainty(p: Parameter, rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw from a parameter's uncertainty distribution, centred on its value, within its range.

    The distribution is truncated to the entry's ``range``: values outside it are redrawn
    (vectorised, up to ``MAX_REDRAWS`` rounds; a Dirichlet redraws the whole share vector).
    Should any remain, they are moved to the nearest value inside the range (just inside an
    open end), or to the entry's value if the draw is not a number: no draw is ever outside.
    (An extreme override, e.g. a ratio of 1e-300, may give infinite or undefined draws
    without a warning: they are outside the range and are redrawn or replaced.)
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        draws = _draw(p, rng, n)
        return _truncate(p, draws, lambda m: _draw(p, rng, m))


def _truncate(p: Parameter, draws: np.ndarray, redraw: Callable[[int], np.ndarray]) -> np.ndarray:
    allowed = p.range
    inside = allowed.contains_array(draws)
    whole_rows = p.uncertainty.distribution == "dirichlet"
    for _ in range(MAX_REDRAWS):
        rows = np.flatnonzero(~inside.all(axis=1))
        if rows.size == 0:
            return draws
        fresh = redraw(rows.size)
        block = fresh if whole_rows else np.where(inside[rows], draws[rows], fresh)
        draws[rows] = block
        inside[rows] = allowed.contains_array(block)
    if inside.all():
        return draws
    centre = np.broadcast_to(np.array(p.value, dtype=float), draws.shape)
    if whole_rows:
        return np.where(inside.all(axis=1, keepdims=True), draws, centre)
    moved = np.where(np.isnan(draws), centre, allowed.clip(draws))
    return np.where(inside, draws, moved)


def _draw(p: Parameter, rng: np.random.Generator, n: int) -> np.ndarray:
    """Draws from the untruncated distribution, shape ``(n, len(value))``."""
    u = p.uncertainty
    centre = np.array(p.value, dtype=float)
    k = centre.size
    if u.distribution == "fixed":
        return np.broadcast_to(centre, (n, k)).copy()
    if u.distribution == "dirichlet":
        assert u.concentration is not None
        # a share of exactly 0 (e.g. an override) stays 0: a Dirichlet needs positive weights
        present = centre > 0
        out = np.zeros((n, k))
        out[:, present] = rng.dirichlet(centre[present] * u.concentration, size=n)
        return out
    assert u.low is not None and u.high is not None
    low, high = np.array(u.low), np.array(u.high)
    if u.distribution == "uniform":
        return rng.uniform(low, high, size=(n, k))
    if u.distribution == "triangular":
        # an override may move the value outside the interval: the mode stays within it
        return rng.triangular(low, np.clip(centre, low, high), high, size=(n, k))
    z = _z(u.level)
    if u.distribution == "normal":
        sd = (high - low) / (2 * z)
        return rng.normal(centre, sd, size=(n, k))
    # lognormal and gamma need a positive centre; one of 0 or less (an override) has no spread
    positive = centre > 0
    safe = np.where(positive, centre, 1.0)
    if u.distribution == "lognormal":
        sigma = np.maximum(np.log(high / safe), np.log(safe / low)) / z
        return np.where(positive, np.exp(rng.normal(np.log(safe), sigma, size=(n, k))), centre)
    sd = (high - low) / (2 * z)
    if u.distribution == "gamma":
        shape = (safe / sd) ** 2
        return np.where(positive, rng.gamma(shape, safe / shape, size=(n, k)), centre)
    # beta by the method of moments, variance capped so both shape parameters stay positive;
    # a centre of exactly 0 or 1, or so close that a shape parameter underflows to 0 (e.g. an
    # override), has no spread
    var = np.minimum(sd**2, centre * (1 - centre) * 0.99)
    common = centre * (1 - centre) / var - 1
    a, b = centre * common, (1 - centre) * common
    spread = (centre > 0) & (centre < 1) & (a > 0) & (b > 0) & np.isfinite(a) & np.isfinite(b)
    if spread.all():
        return rng.beta(a, b, size=(n, k))
    draws = rng.beta(np.where(spread, a, 1.0), np.where(spread, b, 1.0), size=(n, k))
    return np.where(spread, draws, centre)


class UnknownParameterError(RegisterError, KeyError):
    """An unknown register key (also a ``KeyError``, so ``Mapping.get`` works)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Register(Mapping[str, Parameter]):
    """An immutable, validated mapping from parameter key to ``Parameter``."""

    def __init__(self, parameters: Mapping[str, Parameter], titles: Mapping[str, str]):
        self._parameters: Mapping[str, Parameter] = MappingProxyType(dict(parameters))
        self.titles: Mapping[str, str] = MappingProxyType(dict(titles))

    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._parameters[key]
        except KeyError:
            raise UnknownParameterError(unknown_key_message(key, self._parameters)) from None

    def __getstate__(self) -> dict[str, Any]:
        # mapping proxies cannot be pickled; send plain dicts to worker processes
        return {"parameters": dict(self._parameters), "titles": dict(self.titles)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._parameters = MappingProxyType(state["parameters"])
        self.titles = MappingProxyType(state["titles"])

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)

    def scalar(self, key: str) -> float:
        """The value of scalar parameter ``key``."""
        return self[key].scalar

    def array(self, key: str) -> np.ndarray:
        """The values of parameter ``key`` as a read-only array."""
        return self[key].array

    def groups(self) -> list[str]:
        """Register groups in file order."""
        return list(self.titles)

    def select(self, prefix: str = "") -> list[Parameter]:
        """Parameters whose key equals ``prefix`` or starts with ``prefix + '.'``."""
        if not prefix:
            return list(self._parameters.values())
        out = [p for k, p in self._parameters.items() if k == prefix or k.startswith(prefix + ".")]
        if not out:
            raise RegisterError(
                f"no parameters match group '{prefix}'; groups are: {', '.join(self.groups())}."
            )
        return out

    def with_values(self, overrides: Mapping[str, Any], origin: str = "overrides") -> Register:
        """A new register with ``overrides`` (key -> value) applied and re-validated."""
        updated = dict(self._parameters)
        for key, raw in overrides.items():
            if key not in self._parameters:
                raise UnknownParameterError(unknown_key_message(key, self._parameters, origin))
            old = self._parameters[key]
            value, is_vector = _coerce_value(raw, origin, key)
            if is_vector != old.is_vector or len(value) != len(old.value):
                raise RegisterError(
                    f"{origin}: '{key}' = {_fmt(raw)} must have the same shape as the register "
                    f"value ({_cut(old.display_value())})."
                )
            new = replace(old, value=value, file=origin)
            _check_value(new, origin, check_interval=False)
            updated[key] = new
        return Register(updated, self.titles)


def unknown_key_message(key: str, known: Iterable[str], where: str = "") -> str:
    """One sentence naming an unknown key and the closest known ones."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    prefix = f"{where}: " if where else ""
    return (
        f"{prefix}unknown parameter '{key}'{hint}"
        if close
        else (
            f"{prefix}unknown parameter '{key}'; `carescale parameters` lists the "
            f"{len(known)} known keys."
        )
    )


def _coerce_value(raw: Any, file: str, key: str) -> tuple[tuple[float, ...], bool]:
    def num(x: Any) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise RegisterError(f"{file}: '{key}' value {_fmt(x)} is not a number.")
        try:
            value = float(x)
        except OverflowError:  # an integer beyond the largest float
            value = math.inf
        if not math.isfinite(value):
            raise RegisterError(f"{file}: '{key}' value {_fmt(x)} is not finite.")
        return value

    if isinstance(raw, (list, tuple, np.ndarray)):
        if len(raw) == 0:
            raise RegisterError(f"{file}: '{key}' value is an empty list.")
        return tuple(num(x) for x in raw), True
    return (num(raw),), False


def _where(p: Parameter, i: int) -> str:
    """`` [label]`` naming element ``i`` of a vector parameter ('' for a scalar)."""
    return f" [{_cut(p.index[i], 40)}]" if p.is_vector and i < len(p.index) else ""


def _check_value(p: Parameter, file: str, check_interval: bool = True) -> None:
    key, values = p.key, p.value
    for i, v in enumerate(values):
        if not p.range.contains(v):
            raise RegisterError(
                f"{file}: '{key}'{_where(p, i)} = {_num(v)} is out of range; allowed "
                f"{p.range} ({_cut(p.unit)})."
            )
    if p.unit in SHARE_UNITS and abs(sum(values) - 1.0) > _SHARE_SUM_TOLERANCE:
        raise RegisterError(f"{file}: '{key}' shares sum to {sum(values):.4f} but must sum to 1.")
    if not check_interval:
        return
    u = p.uncertainty
    if u.low is None or u.high is None:
        return
    for i, (v, lo, hi) in enumerate(zip(values, u.low, u.high, strict=True)):
        if not lo < hi:
            raise RegisterError(
                f"{file}: '{key}' uncertainty interval [{lo:g}, {hi:g}] is not ordered "
                "(low must be below high)."
            )
        if not lo <= v <= hi:
            raise RegisterError(
                f"{file}: '{key}' value {v:g} lies outside its uncertainty interval "
                f"[{lo:g}, {hi:g}]."
            )
        if u.distribution in ("lognormal", "gamma") and lo <= 0:
            raise RegisterError(
                f"{file}: '{key}' {u.distribution} interval must be positive, got low {lo:g}."
            )
        if u.distribution == "beta" and not (0 <= lo and hi <= 1):
            raise RegisterError(
                f"{file}: '{key}' beta interval [{lo:g}, {hi:g}] must lie within [0, 1]."
            )
        if not (p.range.contains(lo) and p.range.contains(hi)):
            raise RegisterError(
                f"{file}: '{key}'{_where(p, i)} uncertainty interval [{_num(lo)}, {_num(hi)}] "
                f"is out of range; allowed {p.range} ({_cut(p.unit)})."
            )


def _parse_uncertainty(raw: Any, file: str, key: str, n_values: int) -> Uncertainty:
    if not isinstance(raw, dict):
        raise RegisterError(
            f"{file}: '{key}.uncertainty' must be a table such as "
            f'{{ distribution = "beta", low = 0.1, high = 0.2 }}, got {_fmt(raw)}.'
        )
    for k in raw:
        if k not in UNCERTAINTY_FIELDS:
            raise RegisterError(
                f"{file}: '{key}.uncertainty' has unknown key '{k}'; allowed keys are "
                f"{', '.join(sorted(UNCERTAINTY_FIELDS))}."
            )
    dist = raw.get("distribution")
    if dist not in DISTRIBUTIONS:
        raise RegisterError(
            f"{file}: '{key}.uncertainty.distribution' is {_fmt(dist)}; allowed values are "
            f"{', '.join(sorted(DISTRIBUTIONS))}."
        )
    if dist == "fixed":
        return Uncertainty("fixed")
    if dist == "dirichlet":
        conc = raw.get("concentration")
        if isinstance(conc, bool) or not isinstance(conc, (int, float)) or conc <= 0:
            raise RegisterError(
                f"{file}: '{key}.uncertainty.concentration' is {_fmt(conc)}; a dirichlet needs "
                "a positive number."
            )
        return Uncertainty("dirichlet", concentration=float(conc))
    bounds: dict[str, tuple[float, ...]] = {}
    for side in ("low", "high"):
        if side not in raw:
            raise RegisterError(f"{file}: '{key}.uncertainty' needs '{side}' for a {dist}.")
        vals, _ = _coerce_value(raw[side], file, f"{key}.uncertainty.{side}")
        if len(vals) == 1 and n_values > 1:
            vals = vals * n_values
        if len(vals) != n_values:
            raise RegisterError(
                f"{file}: '{key}.uncertainty.{side}' has {len(vals)} values but the parameter "
                f"has {n_values}."
            )
        bounds[side] = vals
    level = raw.get("level", 0.8)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise RegisterError(
            f"{file}: '{key}.uncertainty.level' is {_fmt(level)}; allowed values are in (0, 1)."
        )
    return Uncertainty(dist, bounds["low"], bounds["high"], float(level))


def _parse_entry(raw: dict[str, Any], file: str, key: str) -> Parameter:
    for k in raw:
        if k not in ENTRY_FIELDS:
            raise RegisterError(
                f"{file}: parameter '{key}' has unknown field '{k}'; allowed fields are "
                f"{', '.join(sorted(ENTRY_FIELDS))}."
            )
    for k in REQUIRED_FIELDS:
        if k not in raw or (isinstance(raw[k], str) and not raw[k].strip()):
            raise RegisterError(f"{file}: parameter '{key}' has no '{k}'; every entry needs one.")
    for k in ("unit", "description", "source", "evidence", "note", "price_year"):
        if k in raw and not isinstance(raw[k], str):
            raise RegisterError(f"{file}: '{key}.{k}' must be text, got {_fmt(raw[k])}.")
    value, is_vector = _coerce_value(raw["value"], file, key)
    conf = raw["confidence"]
    if not isinstance(conf, str) or conf not in CONFIDENCE_CODES:
        raise RegisterError(
            f"{file}: '{key}.confidence' is {_fmt(conf)}; allowed values are H, M, L, D, A."
        )
    index: tuple[str, ...] = ()
    if is_vector:
        idx = raw.get("index")
        if not isinstance(idx, list) or len(idx) != len(value):
            raise RegisterError(
                f"{file}: vector parameter '{key}' needs an 'index' list of {len(value)} labels."
            )
        index = tuple(str(i) for i in idx)
    elif "index" in raw:
        raise RegisterError(f"{file}: scalar parameter '{key}' must not have an 'index'.")
    unit = raw["unit"]
    allowed = parse_range(raw["range"], file, key, unit)
    if unit.upper().startswith("GBP") and not raw.get("price_year"):
        raise RegisterError(
            f"{file}: cost parameter '{key}' (unit '{unit}') needs a 'price_year' such as "
            '"2022/23".'
        )
    if conf == "A" and not raw["source"].lower().startswith("assumption"):
        raise RegisterError(
            f"{file}: '{key}' has confidence A, so its source must start with 'Assumption'."
        )
    tol = raw.get("tolerance")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol < 0):
        raise RegisterError(
            f"{file}: '{key}.tolerance' is {_fmt(tol)}; allowed values are numbers >= 0."
        )
    rel = raw.get("relative_tolerance", False)
    if not isinstance(rel, bool):
        raise RegisterError(f"{file}: '{key}.relative_tolerance' must be true or false.")
    kind = raw.get("kind", "")
    if "kind" in raw and kind not in TARGET_KINDS:
        raise RegisterError(
            f"{file}: '{key}.kind' is {_fmt(kind)}; allowed values are {', '.join(TARGET_KINDS)}."
        )
    uncertainty = _parse_uncertainty(raw["uncertainty"], file, key, len(value))
    if uncertainty.distribution == "dirichlet" and unit not in SHARE_UNITS:
        raise RegisterError(
            f"{file}: '{key}' uses a dirichlet, which needs unit 'shares', not '{unit}'."
        )
    p = Parameter(
        key=key,
        value=value,
        is_vector=is_vector,
        unit=unit,
        description=raw["description"].strip(),
        source=raw["source"].strip(),
        confidence=conf,
        uncertainty=uncertainty,
        evidence=raw.get("evidence", ""),
        price_year=raw.get("price_year", ""),
        index=index,
        note=raw.get("note", "").strip(),
        tolerance=None if tol is None else float(tol),
        relative_tolerance=rel,
        kind=kind,
        file=file,
        range=allowed,
    )
    _check_value(p, file)
    return p


def _walk(table: dict[str, Any], file: str, prefix: str, out: dict[str, Parameter]) -> None:
    for name, item in table.items():
        key = f"{prefix}.{name}"
        if not isinstance(item, dict):
            raise RegisterError(
                f"{file}: '{key}' = {_fmt(item)} is neither a parameter table (with 'value') "
                "nor a group of parameters."
            )
        if "value" in item:
            out[key] = _parse_entry(item, file, key)
        elif any(not isinstance(v, dict) for v in item.values()):
            unknown = [k for k in item if k not in ENTRY_FIELDS]
            hint = f"; is '{unknown[0]}' a misspelling of 'value'?" if unknown else "."
            raise RegisterError(f"{file}: parameter '{key}' has no 'value'{hint}")
        else:
            _walk(item, file, key, out)


def parse_register_file(path: Path) -> tuple[str, str, dict[str, Parameter]]:
    """Parse one register file: (group, title, parameters). Raises ``RegisterError``."""
    name = path.name
    if not path.is_file():
        raise RegisterError(f"parameter file '{path}' does not exist.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegisterError(f"{name} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise RegisterError(f"{name} is not UTF-8 text.") from None
    meta = data.pop("_meta", None)
    if not isinstance(meta, dict) or not isinstance(meta.get("title"), str):
        raise RegisterError(f"{name}: needs a [_meta] table with a 'title'.")
    group = path.stem
    out: dict[str, Parameter] = {}
    _walk(data, name, group, out)
    if not out:
        raise RegisterError(f"{name}: holds no parameters.")
    return group, meta["title"], out


def default_parameter_files() -> list[Path]:
    """The register files shipped inside the package, in a stable order."""
    folder = resources.files("model") / "parameters"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


def load_register(paths: Sequence[Path | str] | None = None) -> Register:
    """Load and validate the evidence register (the package's own files by default)."""
    files = [Path(p) for p in paths] if paths is not None else default_parameter_files()
    if not files:
        raise RegisterError("no parameter files were given.")
    params: dict[str, Parameter] = {}
    titles: dict[str, str] = {}
    for path in files:
        group, title, entries = parse_register_file(path)
        if group in titles:
            raise RegisterError(f"{path.name}: group '{group}' is defined by two files.")
        titles[group] = title
        params.update(entries)
    return Register(params, titles)


_DEFAULT: list[Register] = []


def default_register() -> Register:
    """The package's register, loaded once per process (it is immutable)."""
    if not _DEFAULT:
        _DEFAULT.append(load_register())
    return _DEFAULT[0]


# ----------------------------------------------------------------------------- presentation


def register_rows(parameters: Iterable[Parameter]) -> list[dict[str, str]]:
    """Rows (one per parameter) for printing or for Markdown."""
    rows = []
    for p in parameters:
        rows.append(
            {
                "key": p.key,
                "value": p.display_value(),
                "unit": p.unit,
                "range": str(p.range),
                "uncertainty": p.uncertainty.describe(),
                "conf": p.confidence,
                "price year": p.price_year,
                "source": p.source,
                "evidence": p.evidence,
            }
        )
    return rows


_TARGET_KEY = re.compile(r"\btargets\.[a-z_]+\.[a-z0-9_]+")


def fitted_targets(register: Register, p: Parameter) -> list[Parameter]:
    """The calibration targets a fitted entry names in its source ("Calibrated to
    targets.<group>.<key> ..."), in order; empty for entries that are not fitted."""
    if not p.source.startswith("Calibrated"):
        return []
    keys = dict.fromkeys(m.group(0).rstrip(".") for m in _TARGET_KEY.finditer(p.source))
    return [register[k] for k in keys if k in register]


def target_interval(t: Parameter) -> tuple[float, float]:
    """A scalar target's accepted interval: its value ± its tolerance."""
    value = t.scalar
    tol = (t.tolerance or 0.0) * (abs(value) if t.relative_tolerance else 1.0)
    return value - tol, value + tol


def evidence_beside(register: Register, p: Parameter) -> str:
    """For a fitted entry, the published figures it was fitted to and their intervals.

    A fitted value has no published value of its own: its evidence is its targets'. The
    uncertainty interval of the entry keeps its relative width, centred on the fitted value
    (``carescale calibrate --write`` moves it with the value); this records beside it what
    the fit matched: each target's published value, its accepted interval (value ±
    tolerance) and source.
    """
    parts = []
    for t in fitted_targets(register, p):
        if t.is_vector:
            parts.append(f"{t.key} ({t.source})")
            continue
        lo, hi = target_interval(t)
        parts.append(f"{t.key} = {t.scalar:g} {t.unit}, accepted {lo:.4g} to {hi:.4g} ({t.source})")
    return "; ".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def register_markdown(register: Register) -> str:
    """The whole register as Markdown (the content of ``docs/parameters.md``)."""
    lines = [
        "# Parameters and sources",
        "",
        "Generated from the evidence register (`model/parameters/*.toml`) by",
        "`carescale parameters --markdown docs/parameters.md`. Do not edit by hand: a test fails",
        "when this page and the register disagree.",
        "",
        "Confidence: " + "; ".join(f"**{k}** {v}" for k, v in CONFIDENCE_CODES.items()) + ".",
        "Uncertainty intervals are central 80 % intervals unless stated; they drive the",
        "probabilistic sensitivity analysis, whose draws stay within each entry's range.",
        "A range is the set of values the entry's meaning allows (`[` `]` closed, `(` `)`",
        "open): every value and every scenario override must lie within it.",
        "",
    ]
    for group in register.groups():
        params = register.select(group)
        lines += [f"## {group}: {register.titles[group]}", ""]
        lines.append(
            "| key | value | unit | range | uncertainty | conf. | price year | source | evidence |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for row in register_rows(params):
            key = row["key"][len(group) + 1 :]
            cells = [
                f"`{key}`",
                row["value"],
                row["unit"],
                row["range"],
                row["uncertainty"],
                row["conf"],
                row["price year"],
                row["source"],
                row["evidence"],
            ]
            lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        notes = [p for p in params if p.note or p.description]
        if notes:
            lines += ["", "<details><summary>Descriptions and notes</summary>", ""]
            for p in notes:
                text = p.description + (f" *Note:* {p.note}" if p.note else "")
                fitted = evidence_beside(register, p)
                if fitted:
                    text += f" *Fitted to:* {fitted}."
                lines.append(f"- `{p.key}`: {_md_escape(text)}")
            lines += ["", "</details>"]
        lines.append("")
    return "\n".join(lines)
