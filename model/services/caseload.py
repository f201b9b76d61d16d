"""A caseload service for rare, long episodes: one SimPy process per episode.

Link-worker support, health coaching or PHB reviews are rare relative to the population and
last weeks, so each episode is its own SimPy process that requests one of ``servers``
places (a ``simpy.Resource``), holds it for its service time and releases it. With Poisson
arrivals and exponential service times this is an M/M/c queue, and the tests check its mean
wait against the Erlang-C formula.

The service records waits and completed episodes itself; levers turn its episodes into
effects on people.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy


@dataclass
class Episode:
    """One request for a place on the caseload."""

    person_id: int
    arrival: float
    service_days: float
    start: float = math.nan
    end: float = math.nan

    @property
    def wait_days(self) -> float:
        """Time from arrival to the start of service (NaN until started)."""
        return self.start - self.arrival


@dataclass
class Caseload:
    """``servers`` places served first come, first served."""

    env: simpy.Environment
    servers: int
    episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.servers < 1:
            raise ValueError("a caseload needs at least one place")
        self.resource = simpy.Resource(self.env, capacity=self.servers)

    def episode(self, ep: Episode) -> Generator[Any]:
        """SimPy process of one episode: wait for a place, hold it, release it."""
        self.episodes.append(ep)
        with self.resource.request() as req:
            yield req
            ep.start = self.env.now
            yield self.env.timeout(ep.service_days)
            ep.end = self.env.now

    def submit(self, ep: Episode) -> simpy.Process:
        """Start the episode's process now."""
        return self.env.process(self.episode(ep))

    def arrivals(
        self, person_ids: np.ndarray, arrival_days: np.ndarray, service_days: np.ndarray
    ) -> Generator[Any]:
        """SimPy process that submits pre-drawn episodes at their arrival times (sorted)."""
        for pid, t, s in zip(person_ids, arrival_days, service_days, strict=True):
            delay = float(t) - self.env.now
            if delay > 0:
                yield self.env.timeout(delay)
            self.submit(Episode(int(pid), float(t), float(s)))

    def waits(self, since: float = 0.0) -> np.ndarray:
        """Waits (days) of episodes that started, arriving at or after ``since``."""
        return np.array(
            [e.wait_days for e in self.episodes if e.arrival >= since and not math.isnan(e.start)]
        )


def erlang_c_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of an M/M/c system (Erlang C), same time unit as the rates."""
    a = arrival_rate / service_rate  # offered load
    rho = a / servers
    if rho >= 1:
        return math.inf
    terms = sum(a**k / math.factorial(k) for k in range(servers))
    top = a**servers / math.factorial(servers) / (1 - rho)
    p_wait = top / (terms + top)
    return p_wait / (servers * service_rate - arrival_rate)
