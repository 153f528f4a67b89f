"""Seasonal base-stock: a base level raised by the expected extra demand of the peaks of a
season known in advance (a promotion calendar, ``envs.schema.SeasonalitySpec``), built up
``prebuild`` periods ahead of them.

A stationary base-stock level cannot see the calendar: it either carries peak stock all
year or runs short in every promotion. The myopic policy (``baselines.policies.Myopic``)
follows the calendar period by period, but only over one protection period (the lead time
plus one period), so it cannot build stock earlier than one lead time ahead — too late when
a lane's capacity binds. This policy is a base-stock policy on a demand forecast (Silver,
Pyke & Thomas 2017, Section 12.2 on seasonal build-ups) with two parameters, both tuned by
simulation (``baselines.tuning``): each ordering node orders up to

    S_t = levels + round(sum_{k=0}^{L + prebuild} excess(t + k))

on its installation inventory position, where L is its primary lane's mean lead time
(rounded) and ``excess(p)`` is how much the mean demand it serves in phase p of the season
exceeds its median over the cycle (0 in a typical period, ``(lift - 1) * mean`` in a
promotion). With ``prebuild = 0`` the peak's extra demand is ordered one protection period
ahead, as the myopic policy does; each period of ``prebuild`` orders it one period earlier,
so the build-up is spread over more periods of a capacitated lane.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.parameters import Computed
from baselines.policies import Myopic, NodePolicy
from baselines.protection import demand_pmfs
from envs.network import Network
from envs.transition import State

__all__ = ["SeasonalBaseStock", "peak_excess"]


def peak_excess(net: Network, served: np.ndarray) -> np.ndarray:
    """Mean demand each ordering node serves (``served`` [S, D], as
    ``ReplenishmentTree.served``) above its median over the season cycle, per phase
    [S, cycle]; all zero when demand is stationary or a trace."""
    cycle = net.demand.season_period if net.demand.trace is None else 1
    mean = np.zeros((served.shape[0], cycle))
    for d in range(net.num_demand_nodes):
        pmfs = [pmf @ np.arange(len(pmf)) for pmf in demand_pmfs(net, d)]
        by_phase = np.array([pmfs[phase % len(pmfs)] for phase in range(cycle)])
        mean += served[:, [d]] * by_phase
    return np.maximum(mean - np.median(mean, axis=1, keepdims=True), 0.0)


class SeasonalBaseStock(NodePolicy):
    """Base-stock on the season's expected extra demand, built ``prebuild`` periods ahead
    (see module docstring): each ordering node orders ``max(S_t − IP, 0)`` on its primary
    lane, ``S_t = levels + sum_{k=0}^{L + prebuild} excess(t + k)``.

    Args:
        net: the network (on stationary demand this is plain base-stock).
        levels: base level per ordering node (>= 0): the order-up-to level in a period whose
            window holds no peak.
        prebuild: whole periods by which the peaks' extra demand is ordered earlier than one
            protection period ahead, per ordering node (>= 0).
    """

    PARAMS = {"levels": 0.0, "prebuild": 0.0}

    @staticmethod
    def computed(net: Network) -> Computed:
        """Start of the search: the myopic policy's smallest level over the season (the
        level of a period with no peak ahead), no pre-build."""
        levels = Myopic(net).levels  # [cycle, S]
        return Computed(
            {"levels": levels.min(axis=0), "prebuild": np.zeros(levels.shape[1])},
            "start: the myopic policy's lowest level over the season, no pre-build",
        )

    def __init__(self, net: Network, levels: Any = None, prebuild: Any = None):
        super().__init__(net)
        self.levels = self._vector("levels", levels)
        self.prebuild = self._vector("prebuild", prebuild)
        if not np.array_equal(self.prebuild, np.round(self.prebuild)):
            raise ValueError(
                f"prebuild: must be whole periods, got {np.asarray(prebuild).tolist()!r}"
            )
        self.lead = np.array(
            [int(round(net.lead_times[e].mean)) for e in self.tree.lanes], dtype=np.int64
        )
        self.excess = peak_excess(net, self.tree.served)  # [S, cycle]
        self.cycle = self.excess.shape[1]
        # Window sums by cumulative sums over two cycles: sum of excess over phases
        # p, ..., p + n - 1 is (n // cycle) * total + cum[s, p + n % cycle] - cum[s, p].
        twice = np.concatenate([self.excess, self.excess], axis=1)
        self._cum = np.concatenate([np.zeros((self.tree.size, 1)), twice.cumsum(axis=1)], axis=1)
        self._total = self.excess.sum(axis=1)

    def target(self, period: np.ndarray) -> np.ndarray:
        """Order-up-to level S_t of each ordering node at each env's period [B, S], the
        window's extra demand rounded to whole units."""
        nodes = np.arange(self.tree.size)[None, :]
        phase = (period % self.cycle)[:, None]
        n = (self.lead + 1)[None, :] + self.prebuild.astype(np.int64)  # window length
        window = (n // self.cycle) * self._total + (
            self._cum[nodes, phase + n % self.cycle] - self._cum[nodes, phase]
        )
        return self.levels + np.round(window)  # whole units, as every other level

    def order(self, state: State) -> np.ndarray:
        return np.maximum(self.target(state.period) - self.position(state), 0.0)
