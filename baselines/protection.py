"""Demand over a protection period: what an ordering node's stock must cover until its
next order arrives (shared by the myopic policy, the computed parameters and the tuner).

Zipkin 2000, Section 6.2 (base-stock on the lead-time demand) and Axsäter 2015,
Section 5.3 (installation and echelon policies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from baselines.structure import ReplenishmentTree
from envs.network import Network


def demand_pmfs(net: Network, d: int) -> list[np.ndarray]:
    """pmf of demand point d's demand in each phase of its season (a trace: its empirical
    pmf, one phase). Computed once per network (``Network.derived``)."""
    return net.derived("demand_pmfs", lambda: _demand_tables(net))[d]


def _demand_tables(net: Network) -> list[list[np.ndarray]]:
    tables = []
    for point in range(net.num_demand_nodes):
        if net.demand.trace is not None:
            counts = np.bincount(net.demand.trace[:, point].astype(np.int64))
            tables.append([counts / counts.sum()])
        else:
            period = net.demand.specs[point].season_period
            tables.append([net.demand.pmf(point, phase) for phase in range(period)])
    return tables


def served_pmf(net: Network, tree: ReplenishmentTree, s: int, phase: int) -> np.ndarray:
    """pmf of the total demand node s serves in one period (demand nodes independent)."""
    out = np.ones(1)
    for d in np.flatnonzero(tree.served[s]):
        pmfs = demand_pmfs(net, d)
        out = np.convolve(out, pmfs[phase % len(pmfs)])
    return out


def protection_pmf(
    net: Network,
    tree: ReplenishmentTree,
    s: int,
    phase: int,
    lead_time_support: Sequence[int],
    lead_time_probs: Sequence[float],
) -> np.ndarray:
    """pmf of the demand node s serves over the protection period of L + 1 periods starting
    at ``phase`` (L random: a mixture over its support)."""
    total = np.ones(1)
    cumulative = []
    for k in range(max(lead_time_support) + 1):
        total = np.convolve(total, served_pmf(net, tree, s, phase + k))
        cumulative.append(total)
    out = np.zeros(len(cumulative[-1]))
    for lag, p in zip(lead_time_support, lead_time_probs):
        out[: len(cumulative[lag])] += p * cumulative[lag]
    return out


def critical_ratio(net: Network, tree: ReplenishmentTree) -> np.ndarray:
    """Newsvendor critical fractile p / (p + h) of each ordering node [S]: its own holding
    cost against the demand-weighted penalty of the customers it serves."""
    h = net.holding_cost[tree.nodes]
    p = tree.penalty
    return np.divide(p, p + h, out=np.full(tree.size, 0.5), where=(p + h) > 0)


def normal_level(mean: np.ndarray, var: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Newsvendor level under a normal approximation, ``mean + z_ratio * sd``, rounded, >= 0
    (Silver, Pyke & Thomas 2017, Section 6.7)."""
    z = stats.norm.ppf(np.clip(ratio, 1e-6, 1 - 1e-6))
    return np.maximum(np.round(mean + z * np.sqrt(var)), 0.0)


def protection_moments(
    net: Network, tree: ReplenishmentTree, lanes: Sequence[Sequence[int]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the demand each ordering node serves over its protection period,
    the lead times of ``lanes[s]`` (default: its primary lane) plus one period:
    mean = (E[L] + 1) mu, var = (E[L] + 1) sigma^2 + mu^2 Var[L] (random L; Silver, Pyke &
    Thomas 2017, Section 6.10). Per-period mean and variance are taken over the season
    cycle (a seasonal node's swing counts as variance)."""
    mu, var = np.zeros(tree.size), np.zeros(tree.size)
    for d in range(net.num_demand_nodes):
        pmfs = demand_pmfs(net, d)
        k = [np.arange(len(p)) for p in pmfs]
        m = float(np.mean([p @ x for p, x in zip(pmfs, k)]))
        second = float(np.mean([p @ x**2 for p, x in zip(pmfs, k)]))
        mu += tree.served[:, d] * m
        var += tree.served[:, d] * (second - m**2)
    lanes = [[lane] for lane in tree.lanes] if lanes is None else lanes
    lead_mean = np.array([sum(net.lead_times[e].mean for e in path) for path in lanes])
    lead_var = np.array(
        [
            sum(
                float(np.dot(net.lead_times[e].probs, np.square(net.lead_times[e].support)))
                - net.lead_times[e].mean ** 2
                for e in path
            )
            for path in lanes
        ]
    )
    periods = lead_mean + 1
    return periods * mu, periods * var + mu**2 * lead_var
