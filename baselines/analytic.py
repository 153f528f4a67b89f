"""Exact and analytic optimisers for classical single-item inventory policies.

Everything here is written in the project's timing (docs/architecture.md, "Event order
in a period"):

1. arrivals: orders due this period land in on-hand;
2. decision: an order placed in period t with lead time L arrives at the start of period
   t + L, *before* that period's demand (L = 0 arrives at once);
3. demand is served from on-hand; unmet demand is backlogged (or lost);
4. costs on the end-of-period state: holding h per unit on hand, backlog cost b per unit
   backlogged, fixed ordering cost K per order > 0, unit cost c per unit ordered.

Consequently the inventory position after ordering in period t, minus the demand of the
L + 1 periods t, ..., t + L, is the net inventory at the end of period t + L: a base-stock
policy protects against L + 1 periods of demand (the "protection period" of Zipkin 2000,
Section 9.4, and the lost-sales timing of Zipkin 2008). Every function states how its
source's convention maps onto this one.

Demand is discrete (whole units). It is given either as a probability mass function over
0..K (a 1-D array) or as a frozen ``scipy.stats`` distribution; see :func:`demand_pmf`.

The objective is the long-run average cost per period. Under backlog every unit demanded is
eventually ordered, so the unit ordering cost only adds ``c * mean_demand`` per period and
never changes an optimal policy.

References
----------
- Clark, A. J. & Scarf, H. (1960). Optimal policies for a multi-echelon inventory problem.
  Management Science 6(4), 475-490.
- Chen, F. & Zheng, Y.-S. (1994). Lower bounds for multi-echelon stochastic inventory
  systems. Management Science 40(11), 1426-1443.
- Gallego, G. & Zipkin, P. (1999). Stock positioning and performance estimation in serial
  production-transportation systems. M&SOM 1(1), 77-88.
- Zheng, Y.-S. & Federgruen, A. (1991). Finding optimal (s, S) policies is about as simple
  as evaluating a single policy. Operations Research 39(4), 654-665.
- Zipkin, P. H. (2000). Foundations of Inventory Management. McGraw-Hill, ch. 6, 8, 9.
- Snyder, L. V. & Shen, Z.-J. M. (2019). Fundamentals of Supply Chain Theory, 2nd ed.,
  Wiley, ch. 4 (newsvendor, (s,S)) and ch. 6 (stochastic serial systems).
- Axsäter, S. (2015). Inventory Control, 3rd ed., Springer, ch. 5 (echelon vs installation
  stock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "DEFAULT_TAIL_MASS",
    "BaseStockSolution",
    "SerialSolution",
    "base_stock_backlog_cost",
    "convolve_periods",
    "demand_pmf",
    "expected_shortfall",
    "lead_time_demand_pmf",
    "newsvendor_base_stock",
    "one_period_cost",
    "optimal_base_stock_backlog",
    "s_S_cost",
    "serial_echelon_base_stock",
    "serial_echelon_cost",
    "zheng_federgruen",
]

#: Upper-tail probability mass dropped when a distribution with unbounded support is
#: tabulated (the table is then renormalised to sum to one).
DEFAULT_TAIL_MASS = 1e-10

# A pmf given as an array must sum to one up to this tolerance (it is then renormalised);
# anything further off is almost certainly a caller's mistake, not rounding.
_PMF_SUM_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return value


def _check_lead_time(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {name}={value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# demand distributions
# --------------------------------------------------------------------------------------------


def demand_pmf(demand: Any, tail_mass: float = DEFAULT_TAIL_MASS) -> np.ndarray:
    """Per-period demand as a probability mass function over 0..K (float64, sums to 1).

    ``demand`` may be

    - a 1-D array-like of probabilities over 0..K (must sum to 1 within 1e-6; it is
      renormalised and trailing zeros are dropped);
    - a frozen discrete ``scipy.stats`` distribution (e.g. ``stats.poisson(5)``,
      ``stats.nbinom(n, p)``): tabulated up to its ``1 - tail_mass`` quantile, renormalised;
    - a frozen continuous ``scipy.stats`` distribution (e.g. ``stats.norm(mu, sigma)``):
      rounded to the nearest whole unit and at zero, P(X=0) = F(0.5),
      P(X=k) = F(k + 0.5) - F(k - 0.5) (for the normal, F = Phi((x - mu) / sigma)), the
      same rounding as ``envs/demand.py``.

    Raises ValueError for an empty, negative, non-finite or unnormalised pmf.
    """
    tail_mass = float(tail_mass)
    if not 0.0 < tail_mass < 1e-2:
        raise ValueError(f"tail_mass must be in (0, 1e-2), got tail_mass={tail_mass!r}")
    if hasattr(demand, "dist") and hasattr(demand, "cdf") and hasattr(demand, "ppf"):
        if isinstance(demand.dist, stats.rv_discrete):
            if demand.cdf(-1) > 1e-12:
                raise ValueError(
                    f"demand must be >= 0, got a distribution with mass below 0: {demand!r}"
                )
            top = int(demand.ppf(1.0 - tail_mass))
            pmf = demand.pmf(np.arange(top + 1))
        else:
            top = max(int(math.ceil(demand.ppf(1.0 - tail_mass))), 0)
            edges = demand.cdf(np.arange(top + 1) + 0.5)
            pmf = np.diff(edges, prepend=0.0)  # P(0) = F(0.5) takes the mass below zero
        pmf = np.asarray(pmf, dtype=np.float64)
        return _normalise(pmf, "demand", strict=False)
    pmf = np.asarray(demand, dtype=np.float64)
    if pmf.ndim != 1 or pmf.size == 0:
        raise ValueError(f"demand pmf must be a non-empty 1-D array, got shape {pmf.shape}")
    return _normalise(pmf, "demand", strict=True)


# Alias so that functions whose argument is called ``demand_pmf`` can still reach the helper.
_to_pmf = demand_pmf


def _normalise(pmf: np.ndarray, name: str, strict: bool) -> np.ndarray:
    if not np.all(np.isfinite(pmf)) or np.any(pmf < 0):
        raise ValueError(f"{name} pmf must be finite and >= 0, got {pmf!r}")
    total = pmf.sum()
    if total <= 0 or (strict and abs(total - 1.0) > _PMF_SUM_TOL):
        raise ValueError(f"{name} pmf must sum to 1, got sum={total!r}")
    nz = np.flatnonzero(pmf)
    return pmf[: nz[-1] + 1] / total


def convolve_periods(pmf: np.ndarray, periods: int) -> np.ndarray:
    """pmf of the total demand of ``periods`` i.i.d. periods (``[1.0]`` for 0 periods)."""
    periods = _check_lead_time("periods", periods)
    out = np.ones(1)
    base = np.asarray(pmf, dtype=np.float64)
    # Exponentiation by squaring: exact, and log2(periods) convolutions only.
    while periods:
        if periods & 1:
            out = np.convolve(out, base)
        periods >>= 1
        if periods:
            base = np.convolve(base, base)
    return np.clip(out, 0.0, None)


def lead_time_demand_pmf(
    demand: Any, lead_time: int, tail_mass: float = DEFAULT_TAIL_MASS
) -> np.ndarray:
    """pmf of the demand over the protection period of L + 1 periods (project timing).

    An order placed in period t with lead time L arrives before the demand of period t + L,
    so the order placed now is the last chance to cover the demand of periods t..t+L.
    """
    lead_time = _check_lead_time("lead_time", lead_time)
    return convolve_periods(demand_pmf(demand, tail_mass), lead_time + 1)


def expected_shortfall(pmf: np.ndarray, levels: np.ndarray | int) -> np.ndarray:
    """First-order loss function E[(D - y)^+] of a pmf over 0..K, for any integer levels y.

    Exact for every integer y (for y <= 0 it is E[D] - y).
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    k = np.arange(pmf.size)
    mean = float(pmf @ k)
    # loss[y] = E[(D - y)^+] for y = 0..K+1, via the tail sums: loss[y] = sum_{j>y} P(D >= j)
    survival = np.concatenate([[1.0], 1.0 - np.cumsum(pmf)])  # P(D >= j) for j = 0..K+1
    survival = np.clip(survival, 0.0, None)
    loss = np.concatenate([[mean], mean - np.cumsum(survival[1:])])  # y = 0..K+1
    loss = np.clip(loss, 0.0, None)
    y = np.asarray(levels)
    out = np.where(y <= 0, mean - y, loss[np.clip(y, 0, pmf.size)])
    return out.astype(np.float64)


def one_period_cost(
    pmf: np.ndarray, levels: np.ndarray | int, holding_cost: float, backlog_cost: float
) -> np.ndarray:
    """G(y) = h E[(y - D)^+] + b E[(D - y)^+] for the pmf of D, any integer levels y."""
    pmf = np.asarray(pmf, dtype=np.float64)
    mean = float(pmf @ np.arange(pmf.size))
    y = np.asarray(levels)
    shortfall = expected_shortfall(pmf, y)
    # E[(y - D)^+] = y - E[D] + E[(D - y)^+]
    return holding_cost * (y - mean + shortfall) + backlog_cost * shortfall


# --------------------------------------------------------------------------------------------
# single stage, backlog, no fixed cost: the newsvendor base-stock level
# --------------------------------------------------------------------------------------------


def newsvendor_base_stock(demand_pmf: Any, holding_cost: float, backlog_cost: float) -> int:
    """Optimal base-stock level: smallest S >= 0 with P(D <= S) >= b / (b + h).

    ``demand_pmf`` is the demand over the protection period (for a single stage with lead
    time L in project timing: the L + 1 period demand, see :func:`lead_time_demand_pmf`);
    the returned S is the order-up-to level of the inventory position after ordering
    (on-hand + pipeline - backlog). This is the critical-fractile solution of the
    newsvendor problem (Zipkin 2000, Section 9.4.4; Snyder & Shen 2019, Section 4.3),
    the discrete version: G(S + 1) - G(S) = (h + b) P(D <= S) - b >= 0.

    Raises ValueError for negative costs or h = b = 0.
    """
    h = _check_nonnegative("holding_cost", holding_cost)
    b = _check_nonnegative("backlog_cost", backlog_cost)
    if h + b <= 0:
        raise ValueError(f"holding_cost + backlog_cost must be > 0, got {h!r} + {b!r}")
    pmf = _to_pmf(demand_pmf)
    ratio = b / (b + h)
    cdf = np.cumsum(pmf)
    # A tiny slack so that a fractile hit exactly (up to rounding) picks the smaller level.
    return int(np.searchsorted(cdf, ratio - 1e-12, side="left"))


def base_stock_backlog_cost(
    base_stock_level: int,
    demand: Any,
    lead_time: int,
    holding_cost: float,
    backlog_cost: float,
    unit_cost: float = 0.0,
) -> float:
    """Exact long-run average cost per period of base-stock level S on the inventory position.

    Single stocking node, infinite supplier, backlog, lead time L (project timing). The
    inventory position after ordering is S every period, so the net inventory at the end of
    period t + L is S - D[t..t+L] (L + 1 periods) and

        cost(S) = h E[(S - D_{L+1})^+] + b E[(D_{L+1} - S)^+] + c E[D].

    (Zipkin 2000, Section 9.4.3.) Negative S is allowed (a permanent backlog).
    """
    h = _check_nonnegative("holding_cost", holding_cost)
    b = _check_nonnegative("backlog_cost", backlog_cost)
    c = _check_nonnegative("unit_cost", unit_cost)
    lead_time = _check_lead_time("lead_time", lead_time)
    pmf = demand_pmf(demand)
    ltd = convolve_periods(pmf, lead_time + 1)
    mean = float(pmf @ np.arange(pmf.size))
    return float(one_period_cost(ltd, int(base_stock_level), h, b)) + c * mean


@dataclass(frozen=True)
class BaseStockSolution:
    """Optimal base-stock level on the inventory position and its long-run average cost."""

    base_stock_level: int
    cost: float


def optimal_base_stock_backlog(
    demand: Any,
    lead_time: int,
    holding_cost: float,
    backlog_cost: float,
    unit_cost: float = 0.0,
) -> BaseStockSolution:
    """Newsvendor base-stock level for lead time L (project timing) and its exact cost."""
    lead_time = _check_lead_time("lead_time", lead_time)
    pmf = demand_pmf(demand)
    s = newsvendor_base_stock(convolve_periods(pmf, lead_time + 1), holding_cost, backlog_cost)
    cost = base_stock_backlog_cost(s, pmf, lead_time, holding_cost, backlog_cost, unit_cost)
    return BaseStockSolution(s, cost)


# --------------------------------------------------------------------------------------------
# serial system: Clark-Scarf / Chen-Zheng echelon base-stock levels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SerialSolution:
    """Optimal echelon base-stock policy of a serial system.

    Attributes
    ----------
    echelon_levels:
        S_1..S_n, the optimal echelon base-stock levels (stage 1 = customer-facing). Echelon
        j's inventory position = on-hand at stages 1..j + everything in transit to stages
        1..j - backlog at stage 1.
    effective_echelon_levels:
        min(S_j, S_{j+1}, ..., S_n): the levels that the policy actually reaches; identical
        costs (when S_j > S_{j+1}, echelon j can never be raised above S_{j+1} anyway).
    installation_levels:
        s_j = S'_j - S'_{j-1} (S'_0 = 0) on the installation inventory position of stage j
        (on-hand + in transit to j - backorders owed by j to its customer): the equivalent
        installation base-stock policy (Axsäter 2015, Section 5.3.1).
    cost:
        Long-run average cost per period in the project's cost accounting: installation
        holding on on-hand only, backlog cost at stage 1, no in-transit holding.
    cost_with_pipeline_holding:
        The textbook Clark-Scarf cost, which also charges the units in transit to stage j at
        the upstream holding rate H_{j+1}: ``cost + mean_demand * sum_j H_{j+1} L_j``.
    """

    echelon_levels: tuple[int, ...]
    effective_echelon_levels: tuple[int, ...]
    installation_levels: tuple[int, ...]
    cost: float
    cost_with_pipeline_holding: float


def _expect_shift(values: np.ndarray, pmf: np.ndarray) -> np.ndarray:
    """out[i] = sum_d pmf[d] * f(x_i - d) for f tabulated on a unit grid, f linear to the left.

    The left extension uses the slope of the first two grid points; the callers only pass
    functions that are exactly linear there (see serial_echelon_base_stock).
    """
    k = pmf.size - 1
    if k == 0:
        return values * pmf[0]
    slope = values[1] - values[0]
    left = values[0] - slope * np.arange(k, 0, -1)  # f(x_0 - k), ..., f(x_0 - 1)
    ext = np.concatenate([left, values])
    # sum_d p[d] f(x - d): a correlation with the reversed pmf, only the full-overlap part.
    return np.convolve(ext, pmf, mode="valid")


def _serial_setup(
    demand: Any,
    lead_times: Sequence[int],
    installation_holding_costs: Sequence[float],
    backlog_cost: float,
) -> tuple[np.ndarray, float, list[int], list[float], float]:
    b = _check_nonnegative("backlog_cost", backlog_cost)
    lts = [_check_lead_time(f"lead_times[{j}]", lt) for j, lt in enumerate(lead_times)]
    inst = [
        _check_nonnegative(f"installation_holding_costs[{j}]", v)
        for j, v in enumerate(installation_holding_costs)
    ]
    n = len(lts)
    if n == 0:
        raise ValueError("lead_times must name at least one stage, got lead_times=[]")
    if len(inst) != n:
        raise ValueError(
            f"installation_holding_costs must have one entry per stage ({n}), got "
            f"installation_holding_costs={list(installation_holding_costs)!r}"
        )
    for j in range(n - 1):
        if inst[j + 1] > inst[j]:
            raise ValueError(
                "installation_holding_costs must be non-increasing upstream (echelon holding "
                f"costs >= 0), got installation_holding_costs={inst!r}"
            )
    if b + inst[0] <= 0:
        raise ValueError(
            f"backlog_cost + installation_holding_costs[0] must be > 0, got backlog_cost={b!r}"
        )
    pmf = demand_pmf(demand)
    mu = float(pmf @ np.arange(pmf.size))
    return pmf, mu, lts, inst, b


def _serial_recursion(
    pmf: np.ndarray,
    mu: float,
    lts: list[int],
    inst: list[float],
    b: float,
    fixed_levels: Sequence[int] | None,
) -> tuple[list[int], float]:
    """Run the Clark-Scarf recursion; minimise G_j, or evaluate it at ``fixed_levels``."""
    n = len(lts)
    ech = [inst[j] - (inst[j + 1] if j + 1 < n else 0.0) for j in range(n)]
    # One grid for every G_j: x in [lo, hi]. Each G_j is linear for x <= min(0, S_1..S_j)
    # (all its demand terms are then on the backlog side), so a grid starting one unit below
    # that, with linear extension to the left, is exact; hi must exceed every optimal S_j:
    # the largest total demand over all protection periods is a safe bound.
    total_periods = sum(lts) + n
    hi = convolve_periods(pmf, total_periods).size + 1
    lo = -1
    if fixed_levels is not None:
        hi = max(hi, max(fixed_levels) + 2)
        lo = min(lo, min(fixed_levels) - 1)
    grid = np.arange(lo, hi + 1)
    ltd1 = convolve_periods(pmf, lts[0] + 1)
    g = ech[0] * (grid - (lts[0] + 1) * mu) + (b + inst[0]) * expected_shortfall(ltd1, grid)
    levels: list[int] = []
    g_hat = g
    for j in range(n):
        if j > 0:
            shifted = _expect_shift(g_hat, convolve_periods(pmf, lts[j]))
            g = ech[j] * (grid - (lts[j] + 1) * mu) + shifted
        if fixed_levels is None:
            # The smallest minimiser, tolerating rounding (flat stretches when h_j = 0).
            i = int(np.argmin(g))
            i = int(np.flatnonzero(g <= g[i] + 1e-10 * max(1.0, abs(g[i])))[0])
            if grid[i] >= hi - 1:
                raise RuntimeError(f"echelon level of stage {j + 1} hit the grid bound {hi}")
        else:
            i = int(fixed_levels[j]) - lo
        s_j = int(grid[i])
        levels.append(s_j)
        g_hat = np.where(grid <= s_j, g, g[i])
        value = float(g[i])
    return levels, value


def serial_echelon_base_stock(
    demand: Any,
    lead_times: Sequence[int],
    installation_holding_costs: Sequence[float],
    backlog_cost: float,
) -> SerialSolution:
    """Optimal echelon base-stock levels of a serial system (Clark-Scarf; Chen-Zheng 1994).

    Stages 1..n; stage 1 faces i.i.d. customer demand with backlog cost b per unit per
    period; stage j is replenished by stage j + 1 with integer lead time L_j, stage n by an
    infinite supplier. Installation holding costs H_1 >= H_2 >= ... >= H_n >= 0 are charged
    on end-of-period on-hand; echelon holding costs h_j = H_j - H_{j+1} (H_{n+1} = 0). A stage
    ships what it has on hand; a shortfall waits (an internal backorder, or equivalently a
    request that is placed again next period; no cost either way).

    Policy: each period, stage j raises its echelon inventory position (on-hand at stages
    1..j + in transit to stages 1..j - backlog at stage 1) towards S_j, limited by what stage
    j + 1 has on hand: position after ordering = min(S_j, echelon j + 1 inventory level).
    Decisions are taken upstream first, so a zero internal lead time means the goods are
    usable downstream in the same period.

    The exact recursion (Chen & Zheng 1994, Section 3; Gallego & Zipkin 1999; Snyder & Shen
    2019, Section 6.2; Zipkin 2000, Section 8.3), written for the project timing, with
    D^(k) the demand of k periods and mu the mean per-period demand:

        G_1(y)  = h_1 (y - (L_1 + 1) mu) + (b + H_1) E[(D^(L_1 + 1) - y)^+]
        S_j     = argmin_y G_j(y)                              (smallest minimiser)
        Ĝ_j(x)  = G_j(min(S_j, x))
        G_j(y)  = h_j (y - (L_j + 1) mu) + E[Ĝ_{j-1}(y - D^(L_j))]       (j >= 2)

    G_j(y) charges echelon j's holding cost at the end of period t + L_j for an echelon
    inventory position y after ordering in period t. Mapping to the textbooks: echelon j's
    inventory level at the moment stage j - 1 orders in period t + L_j (after arrivals,
    before demand) is y - D^(L_j), so the lead-time demands of the textbook recursion
    (Zipkin 2000, Section 8.3; Snyder & Shen 2019, Section 6.2, stated with "the lead-time
    demand of stage j") are L_1 + 1 periods at stage 1 and L_j periods at stages j >= 2 in
    project lead times.

    The optimal cost is G_n(S_n) minus the (policy-independent) in-transit holding that the
    echelon accounting charges, mu * sum_{j<n} H_{j+1} L_j, because the project charges no
    in-transit holding by default.

    Raises ValueError for negative or increasing installation holding costs, negative lead
    times, mismatched lengths, or an empty pmf.
    """
    pmf, mu, lts, inst, b = _serial_setup(
        demand, lead_times, installation_holding_costs, backlog_cost
    )
    n = len(lts)
    levels, g_min = _serial_recursion(pmf, mu, lts, inst, b, None)
    eff = list(levels)
    for j in range(n - 2, -1, -1):
        eff[j] = min(eff[j], eff[j + 1])
    installation = [eff[0]] + [eff[j] - eff[j - 1] for j in range(1, n)]
    pipeline_holding = mu * sum(inst[j + 1] * lts[j] for j in range(n - 1))
    return SerialSolution(
        echelon_levels=tuple(levels),
        effective_echelon_levels=tuple(eff),
        installation_levels=tuple(installation),
        cost=g_min - pipeline_holding,
        cost_with_pipeline_holding=g_min,
    )


def serial_echelon_cost(
    echelon_levels: Sequence[int],
    demand: Any,
    lead_times: Sequence[int],
    installation_holding_costs: Sequence[float],
    backlog_cost: float,
) -> float:
    """Exact long-run average cost of given echelon base-stock levels S_1..S_n (project cost).

    Same model and recursion as :func:`serial_echelon_base_stock`, with G_j evaluated at the
    given S_j instead of minimised (the decomposition holds for any echelon base-stock
    policy; Chen & Zheng 1994, Section 2). Levels need not be monotone.
    """
    pmf, mu, lts, inst, b = _serial_setup(
        demand, lead_times, installation_holding_costs, backlog_cost
    )
    if len(echelon_levels) != len(lts):
        raise ValueError(
            f"echelon_levels must have one entry per stage ({len(lts)}), "
            f"got echelon_levels={list(echelon_levels)!r}"
        )
    for j, s_j in enumerate(echelon_levels):
        if int(s_j) != s_j:
            raise ValueError(f"echelon_levels[{j}] must be an integer, got {s_j!r}")
    _, value = _serial_recursion(pmf, mu, lts, inst, b, [int(v) for v in echelon_levels])
    n = len(lts)
    return value - mu * sum(inst[j + 1] * lts[j] for j in range(n - 1))


# --------------------------------------------------------------------------------------------
# (s, S) with fixed ordering cost: Zheng-Federgruen
# --------------------------------------------------------------------------------------------


class _SSModel:
    """G(y), the renewal quantities m(j), M(j) and c(s, S) of Zheng & Federgruen (1991)."""

    def __init__(
        self,
        demand: Any,
        lead_time: int,
        holding_cost: float,
        backlog_cost: float,
        fixed_cost: float,
    ) -> None:
        self.h = _check_nonnegative("holding_cost", holding_cost)
        self.b = _check_nonnegative("backlog_cost", backlog_cost)
        self.K = _check_nonnegative("fixed_cost", fixed_cost)
        self.lead_time = _check_lead_time("lead_time", lead_time)
        if self.h <= 0 or self.b <= 0:
            raise ValueError(
                "holding_cost and backlog_cost must be > 0 for an (s,S) optimum to exist, got "
                f"holding_cost={self.h!r}, backlog_cost={self.b!r}"
            )
        self.pmf = demand_pmf(demand)
        if self.pmf[0] >= 1.0 - 1e-12:
            raise ValueError("demand must be positive with positive probability")
        self.mean = float(self.pmf @ np.arange(self.pmf.size))
        self.ltd = convolve_periods(self.pmf, self.lead_time + 1)
        self._m = np.zeros(0)
        self._M = np.zeros(1)

    def G(self, y: np.ndarray | int) -> np.ndarray:
        return one_period_cost(self.ltd, y, self.h, self.b)

    def _grow(self, n: int) -> None:
        """Tabulate m(0..n-1) and M(0..n) (ZF 1991, eqs. (2a)-(2b))."""
        if self._m.size >= n:
            return
        n = max(n, 2 * self._m.size, 64)
        p = self.pmf
        p0 = p[0]
        m = np.zeros(n)
        m[0] = 1.0 / (1.0 - p0)
        # m(j) = sum_{l=1}^{j} p_l m(j-l) / (1 - p0): the renewal recursion; m(j) is the
        # expected number of periods the inventory position spends at S - j in one cycle.
        for j in range(1, n):
            top = min(j, p.size - 1)
            if top >= 1:
                m[j] = p[1 : top + 1] @ m[j - 1 :: -1][:top] / (1.0 - p0)
        self._m = m
        self._M = np.concatenate([[0.0], np.cumsum(m)])

    def cost(self, s: int, S: int) -> float:
        """c(s, S) = [K + sum_{j=0}^{S-s-1} m(j) G(S - j)] / M(S - s)."""
        n = S - s
        self._grow(n)
        j = np.arange(n)
        k = self.K + float(self._m[:n] @ self.G(S - j))
        return k / float(self._M[n])


def s_S_cost(
    s: int,
    S: int,
    demand: Any,
    lead_time: int,
    holding_cost: float,
    backlog_cost: float,
    fixed_cost: float,
    unit_cost: float = 0.0,
) -> float:
    """Exact long-run average cost of an (s, S) policy, single node, backlog, lead time L.

    Policy: at the decision epoch of every period, if the inventory position (on-hand +
    pipeline - backlog) is <= s, order up to S; otherwise do not order (Zheng & Federgruen
    1991's convention, s < S). Under backlog the inventory position is a renewal process
    that does not depend on L, and the end-of-period net inventory L periods later is
    the position minus L + 1 periods of demand (project timing), so by renewal-reward

        c(s, S) = [K + sum_{j=0}^{S-s-1} m(j) G(S - j)] / M(S - s) + c E[D],

    with G(y) = h E[(y - D^(L+1))^+] + b E[(D^(L+1) - y)^+] (Zheng & Federgruen 1991,
    eqs. (1)-(3); for L = 0 the project timing is exactly theirs: the order arrives at once
    and costs are charged on the stock left after the period's demand).

    Raises ValueError when s >= S, for negative costs or lead time.
    """
    if int(s) != s or int(S) != S:
        raise ValueError(f"s and S must be integers, got s={s!r}, S={S!r}")
    if s >= S:
        raise ValueError(f"s must be < S, got s={s!r}, S={S!r}")
    c = _check_nonnegative("unit_cost", unit_cost)
    model = _SSModel(demand, lead_time, holding_cost, backlog_cost, fixed_cost)
    return model.cost(int(s), int(S)) + c * model.mean


def zheng_federgruen(
    demand: Any,
    lead_time: int,
    holding_cost: float,
    backlog_cost: float,
    fixed_cost: float,
    unit_cost: float = 0.0,
) -> tuple[int, int, float]:
    """Optimal (s, S) policy by the algorithm of Zheng & Federgruen (1991), Section 3.

    Single stocking node, infinite supplier, backlog, fixed cost K per order, lead time L in
    project timing (G is built on the L + 1 period demand, see :func:`s_S_cost`). Returns
    ``(s, S, cost)`` with the policy "order up to S when the inventory position is <= s"
    and its long-run average cost per period (including ``unit_cost * mean_demand``).

    The algorithm: y* = argmin G; s0 = the largest s < y* with c(s, y*) <= G(s); then S is
    raised while G(S) <= c*, and whenever c(s, S) < c* the reorder point is pushed up while
    c(s, S) <= G(s + 1) (their Figure 1). With K = 0 it returns s = S - 1 = the newsvendor
    level. Example (their Table 1 instance): Poisson mean 10, K = 64, h = 1, b = 9, L = 0
    gives (s, S) = (6, 40), cost 35.0215.
    """
    c = _check_nonnegative("unit_cost", unit_cost)
    model = _SSModel(demand, lead_time, holding_cost, backlog_cost, fixed_cost)
    G = model.G
    # y*: G is convex in y, so a bounded search around the newsvendor level is exact.
    grid = np.arange(-1, model.ltd.size + 2)
    y_star = int(grid[int(np.argmin(G(grid)))])
    s = y_star - 1
    while model.cost(s, y_star) > float(G(s)):
        s -= 1
    S0 = y_star
    c0 = model.cost(s, S0)
    S = S0 + 1
    while float(G(S)) <= c0:
        cand = model.cost(s, S)
        if cand < c0:
            S0 = S
            while model.cost(s, S0) <= float(G(s + 1)):
                s += 1
            c0 = model.cost(s, S0)
        S += 1
    return s, S0, c0 + c * model.mean
