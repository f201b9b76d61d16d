"""General practices and primary care networks (PCNs) of a simulated place.

A place of N people has about N / (mean list size) practices whose list sizes follow the
published distribution of English practices (a lognormal through the published quartiles,
EVIDENCE §15f), grouped into PCNs of about the published mean size. Each practice has a
deprivation quintile; its patients come mostly from its own quintile (an assumption: a
practice serves its neighbourhood) and it has fewer GPs per patient the more deprived it is,
as published (GP FTE per 10,000 weighted patients by practice IMD quintile).

The structure is a property of the place: it depends on the run's seed and size, not on the
replication, so replications differ in people's events, not in their practices. A person's
practice is a pure function of (seed, person id, IMD quintile), so entrants and levers never
move anyone else between practices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from model import _kernels, crn
from model.register import Register

#: IMD quintiles (1 = most deprived)
N_QUINTILES = 5


@dataclass(frozen=True)
class Practices:
    """Practices of one place (arrays indexed by practice)."""

    list_size: np.ndarray  # nominal registered list (people), sums to the place's size
    imd: np.ndarray  # deprivation quintile of the practice, 1..5
    pcn: np.ndarray  # PCN index of each practice, 0..n_pcn-1
    gp_capacity_factor: np.ndarray  # GP time per registered patient relative to the place
    assign_cum: np.ndarray  # (5, n) cumulative P(practice | patient's IMD quintile)
    key: np.uint64  # hash key of the assignment

    @property
    def n(self) -> int:
        """Number of practices."""
        return int(self.list_size.shape[0])

    @property
    def n_pcn(self) -> int:
        """Number of PCNs."""
        return int(self.pcn.max()) + 1

    @classmethod
    def build(cls, register: Register, size: int, seed: int, imd_shares: np.ndarray) -> Practices:
        """The practices of a place of ``size`` people with IMD quintile shares ``imd_shares``.

        ``imd_shares`` (length 5) is the place's population share by IMD quintile.
        """
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, 0x70726163]).generate_state(2)  # "prac"
        )
        mean_list = register.scalar("practices.mean_list_size")
        n = max(1, round(size / mean_list))
        q1, median, q3 = register.array("practices.list_size_quartiles")
        # normal quantiles: special.ndtri is what stats.norm.ppf computes, without
        # importing scipy.stats (a quarter of a second of every run)
        sigma = np.log(q3 / q1) / (2 * special.ndtri(0.75))
        # stratified quantiles of the lognormal, in random order, scaled to the place
        probs = (np.arange(n) + 0.5) / n
        sizes = median * np.exp(sigma * special.ndtri(probs))
        sizes = rng.permutation(sizes)
        sizes = sizes * size / sizes.sum()
        # practice deprivation: practices in list order take quintiles in proportion to the
        # place's deprivation mix (by cumulative list)
        mid = (np.cumsum(sizes) - sizes / 2) / size
        imd = np.minimum(np.searchsorted(np.cumsum(imd_shares), mid, side="right"), 4) + 1
        # PCNs: about the published mean size, built from practices in random order
        n_pcn = max(1, round(size / register.scalar("practices.pcn_mean_list_size")))
        walk = rng.permutation(n)
        cum_mid = (np.cumsum(sizes[walk]) - sizes[walk] / 2) / size
        pcn = np.empty(n, dtype=np.int32)
        pcn[walk] = np.minimum((cum_mid * n_pcn).astype(np.int32), n_pcn - 1)
        # patients: P(practice | quintile q) ∝ list size x share of the list from quintile q
        own = register.scalar("practices.own_quintile_share")
        comp = np.full((N_QUINTILES, N_QUINTILES), (1.0 - own) / (N_QUINTILES - 1))
        np.fill_diagonal(comp, own)  # comp[practice quintile, patient quintile]
        weight = sizes[None, :] * comp[imd - 1].T  # (patient quintile, practice)
        assign_cum = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
        assign_cum[:, -1] = 1.0
        # GP time per patient by practice deprivation, relative to the place's average
        fte = register.array("practices.gp_fte_per_10000_by_practice_imd")[imd - 1]
        expected_list = weight.T @ (np.asarray(imd_shares) / weight.sum(axis=1))  # (practice,)
        factor = fte / (fte @ expected_list / expected_list.sum())
        key = crn.key(seed, 0, "practices.assignment")
        return cls(sizes, imd.astype(np.int8), pcn, factor, assign_cum, key)

    def of(self, person_id: np.ndarray, imd: np.ndarray) -> np.ndarray:
        """Practice of each person (a pure function of person id and IMD quintile)."""
        imd = np.asarray(imd)
        if imd.size and int(imd.min()) >= 1 and int(imd.max()) <= N_QUINTILES:
            # the loop below as one compiled pass (the same uniforms and search)
            return _kernels.practice_of(person_id, imd, self.key, self.assign_cum)
        u = crn.uniforms(self.key, person_id)
        out = np.empty(person_id.shape[0], dtype=np.int32)
        for q in range(N_QUINTILES):
            mask = imd == q + 1
            if mask.any():
                out[mask] = np.searchsorted(self.assign_cum[q], u[mask], side="right")
        return np.minimum(out, self.n - 1)


__all__ = ["Practices"]
