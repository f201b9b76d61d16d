"""Output strata: sex, 5-year age band, IMD quintile, LTC band, activation level, segment.

Every person is given one integer stratum code at the start of each year; results are
counted by code and decoded into readable columns only when tables are written. ``ltc_band``
is the broad count (Cassell 2018's 36 conditions). The code a person carries during a year
(``person_code``) also holds two attributes that are not strata of every table: the QOF
count band (``qof_ltc_band``, in person_years only) and the Bridges to Health segment (its
own table), as ``stratum * N_EXTRA + qof_band * N_BRIDGES + bridges``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.population import BRIDGES_SEGMENTS, SEGMENTS

AGE_BAND_WIDTH = 5
N_AGE_BANDS = 18  # "0-4" ... "80-84", "85+"
AGE_BANDS: tuple[str, ...] = tuple([f"{a}-{a + 4}" for a in range(0, 85, AGE_BAND_WIDTH)] + ["85+"])
LTC_BANDS: tuple[str, ...] = ("0", "1", "2", "3", "4", "5+")
SEXES: tuple[str, ...] = ("male", "female")
N_IMD = 5
N_LEVELS = 4
N_SEGMENTS = len(SEGMENTS)
#: code = ((((age_band * 2 + sex) * 5 + imd) * 6 + ltc_band) * 4 + level) * 4 + segment
SHAPE = (N_AGE_BANDS, 2, N_IMD, len(LTC_BANDS), N_LEVELS, N_SEGMENTS)
N_STRATA = int(np.prod(SHAPE))
STRATA_COLUMNS = ("sex", "age_band", "imd_quintile", "ltc_band", "activation_level", "segment")
N_BRIDGES = len(BRIDGES_SEGMENTS)
#: person-code values per stratum: QOF count band x Bridges to Health segment
N_EXTRA = len(LTC_BANDS) * N_BRIDGES
N_CODES = N_STRATA * N_EXTRA


def age_band_index(age: np.ndarray) -> np.ndarray:
    """0..17 for ages 0-4 ... 85+."""
    return np.minimum(np.asarray(age) // AGE_BAND_WIDTH, N_AGE_BANDS - 1).astype(np.int64)


def stratum_code(
    age: np.ndarray,
    sex: np.ndarray,
    imd: np.ndarray,
    ltc_count: np.ndarray,
    pam_level: np.ndarray,
    segment: np.ndarray,
) -> np.ndarray:
    """Integer stratum code per person (int32)."""
    code = age_band_index(age)
    code = code * 2 + sex
    code = code * N_IMD + (imd.astype(np.int64) - 1)
    code = code * len(LTC_BANDS) + np.minimum(ltc_count, len(LTC_BANDS) - 1)
    code = code * N_LEVELS + (pam_level.astype(np.int64) - 1)
    code = code * N_SEGMENTS + segment
    return code.astype(np.int32)


def person_code(
    stratum: np.ndarray, qof_ltc_count: np.ndarray, bridges_segment: np.ndarray
) -> np.ndarray:
    """A person's code for the year: stratum, QOF count band and Bridges segment (int32)."""
    band = np.minimum(qof_ltc_count, len(LTC_BANDS) - 1).astype(np.int64)
    code = (stratum.astype(np.int64) * len(LTC_BANDS) + band) * N_BRIDGES + bridges_segment
    return code.astype(np.int32)


def imd_and_segment(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IMD quintile index (0-4) and segment index of person codes, without decoding the rest."""
    codes = np.asarray(codes, dtype=np.int64) // N_EXTRA
    segment = codes % N_SEGMENTS
    imd = codes // (N_SEGMENTS * N_LEVELS * len(LTC_BANDS)) % N_IMD
    return imd, segment


def decode(codes: np.ndarray) -> pd.DataFrame:
    """Readable strata columns for an array of codes (categoricals keep files small)."""
    idx = np.unravel_index(np.asarray(codes, dtype=np.int64), SHAPE)
    age_i, sex_i, imd_i, ltc_i, lvl_i, seg_i = idx
    return pd.DataFrame(
        {
            "sex": pd.Categorical.from_codes(sex_i, pd.Index(SEXES)),
            "age_band": pd.Categorical.from_codes(age_i, pd.Index(AGE_BANDS), ordered=True),
            "imd_quintile": (imd_i + 1).astype(np.int8),
            "ltc_band": pd.Categorical.from_codes(ltc_i, pd.Index(LTC_BANDS), ordered=True),
            "activation_level": (lvl_i + 1).astype(np.int8),
            "segment": pd.Categorical.from_codes(seg_i, pd.Index(SEGMENTS)),
        }
    )
