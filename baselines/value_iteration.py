"""Exact dynamic programming for one stocking node fed by an infinite supplier.

Relative value iteration (average cost) for the periodic-review single-item inventory
problem with lost sales or backlog, a deterministic integer lead time L, a fixed ordering
cost K >= 0, a unit cost c, holding cost h and a penalty p (per unit lost, or per unit
backlogged per period), and i.i.d. discrete demand.

Timing (the project's, docs/architecture.md): arrivals, then the decision, then
demand, then costs on the end-of-period state; an order placed in period t arrives at the
start of period t + L, before that period's demand (L = 0: at once). This is the timing of
Zipkin (2008), "Old and new methods for lost-sales inventory systems", Operations Research
56(5), 1256-1263, whose Table 3 optimal costs (Poisson mean 5, h = 1) this code reproduces.

State at the decision epoch (after arrivals):

- ``z``: on-hand inventory (lost sales) or net inventory = on-hand - backlog (backlog);
- ``q_1, ..., q_{L-1}``: outstanding orders that arrive at the start of periods
  t + 1, ..., t + L - 1 (the order placed now will be q_L).

Transition: the order a is placed (cost K [a > 0] + c a); with L = 0 it lands at once.
Demand d is served from the stock; the end-of-period cost is h (z' - d)^+ + p (d - z')^+
with z' = z (L >= 1) or z + a (L = 0). The next state is (max(z' - d, 0) + q_1, q_2, ..., a)
for lost sales and (z' - d + q_1, ...) for backlog.

State-space bounds (all documented on :class:`ValueIterationSolution`):

- ``max_inventory_position`` (IP_max): z + q_1 + ... + q_{L-1} + a <= IP_max, so orders are
  at most IP_max - inventory position. For lost sales the default is the newsvendor
  level S̄ of the L + 1 period demand at the critical ratio p / (p + h) plus a margin:
  Zipkin (2008, Section 2, after Morton 1971) shows that the optimal inventory position
  after ordering never exceeds S̄. For backlog, S̄ at ratio b / (b + h) plus an EOQ-type
  margin when K > 0. After solving, the greedy policy is checked: if any state orders up to
  exactly IP_max (the bound could bind) the bound is enlarged and the problem solved again.
- ``min_net_inventory`` (backlog only, z_min < 0): the net inventory is clipped at z_min in
  the transition (costs are computed on the unclipped value). The default lies a 1 - 1e-9
  quantile of the L + 1 period demand below the smallest plausible position, so the
  clipping carries negligible stationary probability under any sensible policy.
- demand pmf: truncated at its 1 - 1e-10 quantile and renormalised.

Relative value iteration (Puterman 1994, Markov Decision Processes, Section 8.5.5) with the
span stopping rule: iterate V <- T V - (T V)(ref) until sp(T V - V) < tol; then
min(T V - V) <= g* <= max(T V - V) (Odoni bounds, Puterman Thm 8.5.5), and the midpoint is
returned. Aperiodicity can be enforced with the transformation T_tau V = V + tau (T V - V)
(Puterman Section 8.5.4); the default tau = 1 is safe whenever P(demand = 0) > 0.

Vectorisation: the expectation over demand only touches (z, q_1), so for every post-decision
state (z, q_1 | q_2..q_{L-1}, a) it is one dense matrix product ``F = M @ V`` with V laid out
as [z, packed(q_1..q_{L-1})] and M[(z, q_1), z''] = P(next on-hand = z'' | z, q_1); the
minimisation over the order is a gather of all feasible (state, order) pairs followed by a
segmented ``np.minimum.reduceat``. No Python loop over states.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baselines.analytic import (
    DEFAULT_TAIL_MASS,
    convolve_periods,
    demand_pmf,
    newsvendor_base_stock,
    one_period_cost,
)
from baselines.policy_base import Policy

__all__ = ["OptimalPolicy", "ValueIterationSolution", "solve_value_iteration"]

# Largest lead time accepted: the state space grows like IP_max^L / L!.
MAX_LEAD_TIME = 6


@dataclass(frozen=True)
class ValueIterationSolution:
    """Optimal average cost and policy table of the single-node DP.

    Attributes
    ----------
    average_cost:
        Optimal long-run average cost per period g* (midpoint of the Odoni bounds).
    average_cost_bounds:
        (lower, upper) bounds on g* at termination; their width is < tol when converged.
    policy:
        Optimal order quantity, int32 array of shape (Z,) + (Q,) * (L - 1), indexed by
        ``[z - min_net_inventory, q_1, ..., q_{L-1}]`` with Z = IP_max - z_min + 1 and
        Q = IP_max - z_min + 1; -1 marks states outside the bounds (z + sum q > IP_max).
        Ties are broken towards the smaller order.
    relative_value:
        Relative value function h(x) on the same grid (NaN outside the bounds).
    lead_time, lost_sales, holding_cost, penalty, fixed_cost, unit_cost:
        The instance.
    min_net_inventory:
        z_min: 0 for lost sales; the clipping level of the net inventory for backlog.
    max_inventory_position:
        IP_max: the inventory position after ordering never exceeds it.
    max_order:
        Largest order the table can hold, IP_max - z_min.
    iterations, converged, solve_seconds:
        Relative value iteration statistics.
    bound_hit:
        True if some state's optimal order brings the inventory position exactly to IP_max
        (the bound may bind, and the policy may be sub-optimal there). The solver enlarges
        the bound and re-solves before giving up, so this is False in normal use.
    demand_pmf:
        The truncated, renormalised per-period demand pmf over 0..K that was used.
    """

    average_cost: float
    average_cost_bounds: tuple[float, float]
    policy: np.ndarray = field(repr=False)
    relative_value: np.ndarray = field(repr=False)
    lead_time: int
    lost_sales: bool
    holding_cost: float
    penalty: float
    fixed_cost: float
    unit_cost: float
    min_net_inventory: int
    max_inventory_position: int
    max_order: int
    iterations: int
    converged: bool
    solve_seconds: float
    bound_hit: bool
    demand_pmf: np.ndarray = field(repr=False)

    def order_quantity(self, net_inventory: np.ndarray, pipeline: np.ndarray) -> np.ndarray:
        """Vectorised policy lookup.

        ``net_inventory`` [B]: on-hand (lost sales) or on-hand - backlog (backlog) after
        arrivals; ``pipeline`` [B, L - 1]: q_1..q_{L-1} (orders arriving in 1..L-1 periods).

        Outside the table: a position above IP_max orders nothing (the optimal policy never
        raises the position above IP_max, and under lost sales never orders above Zipkin's
        bound S̄ < IP_max); a net inventory below z_min (backlog) is looked up at z_min and
        the deficit is added to the order, which keeps the inventory position after ordering
        that the table prescribes (exact for position-based policies, the optimal form under
        backlog).
        """
        z = np.rint(np.asarray(net_inventory)).astype(np.int64).reshape(-1)
        n_pipe = max(self.lead_time - 1, 0)
        q = np.rint(np.asarray(pipeline)).astype(np.int64)
        if q.ndim != 2 or q.shape != (z.shape[0], n_pipe):
            raise ValueError(
                f"pipeline must have {n_pipe} columns (q_1..q_(L-1)), got shape {q.shape}"
            )
        zmin, ipmax = self.min_net_inventory, self.max_inventory_position
        deficit = np.maximum(zmin - z, 0)
        zc = z + deficit
        position = zc + q.sum(axis=1)
        inside = (position <= ipmax) & np.all(q >= 0, axis=1)
        coords = (zc - zmin,) + tuple(q[:, k] for k in range(n_pipe))
        flat = np.ravel_multi_index(coords, self.policy.shape, mode="clip")
        order = self.policy.ravel()[flat].astype(np.int64) + deficit
        return np.where(inside, np.maximum(order, 0), 0)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return value


def _simplex(dim: int, total: int) -> np.ndarray:
    """All tuples of ``dim`` non-negative integers with sum <= total, in lexicographic order."""
    if dim == 0:
        return np.zeros((1, 0), dtype=np.int64)
    if dim == 1:
        return np.arange(total + 1, dtype=np.int64)[:, None]
    blocks = []
    for first in range(total + 1):
        rest = _simplex(dim - 1, total - first)
        blocks.append(np.column_stack([np.full(rest.shape[0], first, dtype=np.int64), rest]))
    return np.concatenate(blocks)


def _default_bounds(
    pmf: np.ndarray, lead_time: int, h: float, p: float, fixed_cost: float, lost_sales: bool
) -> tuple[int, int]:
    """Default (IP_max, z_min), see the module docstring."""
    mu = float(pmf @ np.arange(pmf.size))
    ltd = convolve_periods(pmf, lead_time + 1)
    s_bar = newsvendor_base_stock(ltd, h, p) if h > 0 else ltd.size
    # Fixed cost: (s, S) policies raise the position about an EOQ above s; twice the EOQ
    # (Zipkin 2000, Section 6.4: S - s ~ sqrt(2 K mu / h)) is a generous margin.
    margin = (
        int(math.ceil(2.0 * math.sqrt(2.0 * fixed_cost * max(mu, 1e-9) / h)))
        if fixed_cost > 0 and h > 0
        else 0
    )
    ip_max = s_bar + 2 + margin
    if lost_sales:
        return ip_max, 0
    cdf = np.cumsum(ltd)
    deep = int(np.searchsorted(cdf, 1.0 - 1e-9))
    z_min = min(0, s_bar - margin) - deep - 1
    return ip_max, z_min


def _transition_matrix(z_values: np.ndarray, pmf: np.ndarray, z_min: int) -> np.ndarray:
    """T[i, j] = P(max(z_i - D, z_min) = z_values[j]) on the grid z_values = z_min..IP_max."""
    dmax = pmf.size - 1
    diff = z_values[:, None] - z_values[None, :]
    tab = np.where((diff >= 0) & (diff <= dmax), pmf[np.clip(diff, 0, dmax)], 0.0)
    survival = np.concatenate([[1.0], np.clip(1.0 - np.cumsum(pmf), 0.0, None)])  # P(D >= k)
    # Everything at or below z_min is lumped into z_min (lost sales: z_min = 0, exact).
    gap = z_values - z_min
    tab[:, 0] = np.where(gap <= dmax, survival[np.clip(gap, 0, dmax + 1)], 0.0)
    return tab


# --------------------------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------------------------


def solve_value_iteration(
    demand: Any,
    lead_time: int,
    holding_cost: float,
    penalty: float,
    *,
    lost_sales: bool = True,
    fixed_cost: float = 0.0,
    unit_cost: float = 0.0,
    max_inventory_position: int | None = None,
    min_net_inventory: int | None = None,
    tol: float = 1e-6,
    max_iterations: int = 20_000,
    aperiodicity: float = 1.0,
    tail_mass: float = DEFAULT_TAIL_MASS,
    auto_expand: int = 3,
) -> ValueIterationSolution:
    """Optimal average cost and policy of the single-node problem by relative value iteration.

    Parameters
    ----------
    demand:
        Per-period demand: pmf over 0..K or a frozen ``scipy.stats`` distribution (see
        :func:`baselines.analytic.demand_pmf`); truncated at 1 - ``tail_mass``.
    lead_time:
        L in 0..6 (project timing: arrives before the demand of period t + L).
    holding_cost, penalty:
        h per unit on hand at the end of a period; p per unit lost (``lost_sales=True``) or
        per unit backlogged per period (``lost_sales=False``).
    fixed_cost, unit_cost:
        K per positive order, c per unit ordered.
    max_inventory_position, min_net_inventory:
        State-space bounds IP_max and z_min (backlog only); defaults in the module docstring.
    tol:
        Stop when the span of T V - V is below ``tol`` (the optimal average cost is then
        known to within ``tol``).
    aperiodicity:
        tau in (0, 1] of the aperiodicity transformation.
    auto_expand:
        How many times IP_max (and z_min) may be enlarged when the policy hits them.

    Raises ValueError for negative costs, a lead time outside 0..6, an empty pmf, or bounds
    that leave no room (IP_max < 1, z_min > 0 for backlog).
    """
    if isinstance(lead_time, bool) or int(lead_time) != lead_time or lead_time < 0:
        raise ValueError(f"lead_time must be an integer >= 0, got lead_time={lead_time!r}")
    lead_time = int(lead_time)
    if lead_time > MAX_LEAD_TIME:
        raise ValueError(
            f"lead_time must be <= {MAX_LEAD_TIME} for exact DP, got lead_time={lead_time!r}"
        )
    h = _check_nonnegative("holding_cost", holding_cost)
    p = _check_nonnegative("penalty", penalty)
    K = _check_nonnegative("fixed_cost", fixed_cost)
    c = _check_nonnegative("unit_cost", unit_cost)
    if h + p <= 0:
        raise ValueError(f"holding_cost + penalty must be > 0, got {h!r} + {p!r}")
    if not (tol > 0):
        raise ValueError(f"tol must be > 0, got tol={tol!r}")
    if not (0 < aperiodicity <= 1):
        raise ValueError(f"aperiodicity must be in (0, 1], got aperiodicity={aperiodicity!r}")
    pmf = demand_pmf(demand, tail_mass)

    ip_default, zmin_default = _default_bounds(pmf, lead_time, max(h, 1e-9), p, K, lost_sales)
    ip_max = ip_default if max_inventory_position is None else int(max_inventory_position)
    z_min = zmin_default if min_net_inventory is None else int(min_net_inventory)
    if lost_sales:
        z_min = 0
    if ip_max < 1:
        raise ValueError(
            f"max_inventory_position must be >= 1, got max_inventory_position={ip_max!r}"
        )
    if z_min > 0:
        raise ValueError(f"min_net_inventory must be <= 0, got min_net_inventory={z_min!r}")

    for attempt in range(auto_expand + 1):
        sol = _solve(
            pmf, lead_time, h, p, K, c, lost_sales, ip_max, z_min, tol, max_iterations, aperiodicity
        )
        if not sol.bound_hit or attempt == auto_expand:
            break
        grow = max(4, ip_max // 4)
        ip_max += grow
        if not lost_sales and min_net_inventory is None:
            z_min -= grow
    if sol.bound_hit:
        warnings.warn(
            "value iteration: the optimal policy reaches "
            f"max_inventory_position={sol.max_inventory_position}; the bound may bind. "
            "Pass a larger max_inventory_position.",
            RuntimeWarning,
            stacklevel=2,
        )
    if not sol.converged:
        warnings.warn(
            f"value iteration did not converge in {sol.iterations} iterations "
            f"(bounds {sol.average_cost_bounds}); raise max_iterations or use aperiodicity < 1",
            RuntimeWarning,
            stacklevel=2,
        )
    return sol


def _solve(
    pmf: np.ndarray,
    L: int,
    h: float,
    p: float,
    K: float,
    c: float,
    lost_sales: bool,
    ip_max: int,
    z_min: int,
    tol: float,
    max_iterations: int,
    tau: float,
) -> ValueIterationSolution:
    t0 = time.perf_counter()
    z_values = np.arange(z_min, ip_max + 1, dtype=np.int64)
    Z = z_values.size
    q_max = ip_max - z_min  # the largest pipeline sum (and order) any feasible state can have
    T = _transition_matrix(z_values, pmf, z_min)
    # Expected end-of-period holding + penalty cost when z units (net) face the demand.
    stage_cost = one_period_cost(pmf, z_values, h, p)

    # Pre-decision states: (z, r) with r = packed index of (q_1..q_{L-1}).
    n_pipe = max(L - 1, 0)
    tuples = _simplex(n_pipe, q_max)  # [R, L-1]
    R = tuples.shape[0]
    r_sum = tuples.sum(axis=1)
    packed_of = (
        np.full((q_max + 1,) * n_pipe, -1, dtype=np.int64) if n_pipe else np.zeros((), np.int64)
    )
    if n_pipe:
        packed_of[tuple(tuples.T)] = np.arange(R)
    feasible = z_values[:, None] + r_sum[None, :] <= ip_max  # [Z, R]
    state_flat = np.flatnonzero(feasible.ravel())
    st_z = state_flat // R
    st_r = state_flat % R
    position = z_values[st_z] + r_sum[st_r]

    # Every feasible (state, order) pair, grouped by state: a = 0..IP_max - position.
    n_act = ip_max - position + 1
    seg_start = np.concatenate([[0], np.cumsum(n_act)[:-1]])
    seg_id = np.repeat(np.arange(state_flat.size), n_act)
    act = np.arange(int(n_act.sum()), dtype=np.int64) - seg_start[seg_id]
    order_cost = K * (act > 0) + c * act
    pz = st_z[seg_id]  # z index of each (state, order) pair
    pr = st_r[seg_id]

    if L == 0:
        # Post-decision stock y = z + a faces the demand at once: F[y] = G(y) + E V(next).
        post = pz + act  # index of y on the z grid (y <= IP_max by construction)
        pre_cost = np.zeros(state_flat.size)
        matrix = T
        n_cols = 1
    else:
        # Post-decision (z, u_1 | u_2..u_L): the demand acts on z, then u_1 lands on top.
        # L = 1: u_1 = a and nothing else. L >= 2: u_1 = q_1, rest = (q_2..q_{L-1}, a).
        pair_z = np.repeat(np.arange(Z), ip_max - z_values + 1)
        pair_u = np.arange(pair_z.size) - np.repeat(
            np.concatenate([[0], np.cumsum(ip_max - z_values + 1)[:-1]]), ip_max - z_values + 1
        )
        pair_of = np.full((Z, q_max + 1), -1, dtype=np.int64)
        pair_of[pair_z, pair_u] = np.arange(pair_z.size)
        # M[(z, u), j] = P(max(z - D, z_min) + u = z_values[j])
        shift = np.arange(Z)[None, :] - pair_u[:, None]
        matrix = np.where(shift >= 0, T[pair_z[:, None], np.clip(shift, 0, Z - 1)], 0.0)
        if L == 1:
            post = pair_of[pz, act]
        else:
            q = tuples[pr]  # [n_pairs, L-1]
            rest = np.column_stack([q[:, 1:], act])
            post = pair_of[pz, q[:, 0]] * R + packed_of[tuple(rest.T)]
        pre_cost = stage_cost[st_z]
        n_cols = R
    if np.any(post < 0):  # an index bug, never a user error
        raise RuntimeError("value iteration: a post-decision state fell outside the grid")

    V = np.zeros((Z, n_cols))
    v_flat = V.reshape(-1)
    lo, hi = -np.inf, np.inf
    converged = False
    iterations = 0

    def bellman(v2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        F = matrix @ v2d
        if L == 0:
            F = F + stage_cost[:, None]
        Q = F.reshape(-1)[post] + order_cost
        return pre_cost + np.minimum.reduceat(Q, seg_start), Q

    while iterations < max_iterations:
        iterations += 1
        TV, _ = bellman(V)
        diff = TV - v_flat[state_flat]
        lo, hi = float(diff.min()), float(diff.max())
        new = v_flat[state_flat] + tau * diff
        v_flat[state_flat] = new - new[0]
        if hi - lo < tol:
            converged = True
            break

    # Greedy policy w.r.t. the final relative values; ties towards the smaller order.
    TV, Q = bellman(V)
    best = (TV - pre_cost)[seg_id]
    cand = np.flatnonzero(Q <= best + 1e-9 * np.maximum(1.0, np.abs(best)))
    first = cand[np.unique(seg_id[cand], return_index=True)[1]]
    action = act[first]
    bound_hit = bool(np.any((action > 0) & (position + action >= ip_max)))

    shape = (Z,) + (q_max + 1,) * n_pipe
    policy = np.full(shape, -1, dtype=np.int32)
    values = np.full(shape, np.nan)
    coords = (st_z,) + tuple(tuples[st_r, k] for k in range(n_pipe))
    policy[coords] = action
    values[coords] = v_flat[state_flat]
    return ValueIterationSolution(
        average_cost=0.5 * (lo + hi),
        average_cost_bounds=(lo, hi),
        policy=policy,
        relative_value=values,
        lead_time=L,
        lost_sales=lost_sales,
        holding_cost=h,
        penalty=p,
        fixed_cost=K,
        unit_cost=c,
        min_net_inventory=z_min,
        max_inventory_position=ip_max,
        max_order=q_max,
        iterations=iterations,
        converged=converged,
        solve_seconds=time.perf_counter() - t0,
        bound_hit=bound_hit,
        demand_pmf=pmf,
    )


# --------------------------------------------------------------------------------------------
# batched policy for the simulator
# --------------------------------------------------------------------------------------------


class OptimalPolicy(Policy):
    """The value-iteration policy as a batched policy for the simulator.

    ``OptimalPolicy(solution, node, lane)`` orders on lane ``lane`` (which must replenish
    stocking node ``node`` with the deterministic lead time ``solution.lead_time``) and
    nothing on every other lane.

    ``act(state)`` reads, by duck typing, the simulator's ``State`` fields:
    ``on_hand [B, N]``, ``backlog [B, N]`` (backlog instances only), ``pipeline [B, E, Lmax]``
    where ``pipeline[:, e, k]`` arrives at the start of period t + 1 + k. At the decision
    epoch the solution's q_k (arriving in k periods) is ``pipeline[:, lane, k - 1]`` for
    k = 1..L-1; the slots k >= L - 1 of that lane must be empty (the order placed now goes
    there) -- a ValueError is raised otherwise, since the table does not describe such a
    state. States beyond the table are handled as in
    :meth:`ValueIterationSolution.order_quantity`. Returns orders [B, E] in the pipeline's
    dtype.
    """

    def __init__(self, solution: ValueIterationSolution, node: int, lane: int) -> None:
        if int(node) != node or node < 0:
            raise ValueError(f"node must be an integer >= 0, got node={node!r}")
        if int(lane) != lane or lane < 0:
            raise ValueError(f"lane must be an integer >= 0, got lane={lane!r}")
        self.solution = solution
        self.node = int(node)
        self.lane = int(lane)

    def act(self, state: Any) -> np.ndarray:
        sol = self.solution
        on_hand = np.asarray(state.on_hand)
        pipeline = np.asarray(state.pipeline)
        z = on_hand[:, self.node]
        if not sol.lost_sales:
            z = z - np.asarray(state.backlog)[:, self.node]
        lane_pipe = pipeline[:, self.lane, :]
        n_pipe = max(sol.lead_time - 1, 0)
        if np.any(lane_pipe[:, n_pipe:] != 0):
            raise ValueError(
                f"lane {self.lane}: pipeline slots >= {n_pipe} are not empty at the decision "
                f"epoch; the solution assumes a deterministic lead time of {sol.lead_time}"
            )
        order = sol.order_quantity(z, lane_pipe[:, :n_pipe])
        out = np.zeros(pipeline.shape[:2], dtype=pipeline.dtype)
        out[:, self.lane] = order
        return out

    def describe(self) -> dict:
        sol = self.solution
        return {
            "source": "exact: relative value iteration",
            "average_cost": float(sol.average_cost),
            "max_inventory_position": int(sol.max_inventory_position),
            "iterations": int(sol.iterations),
            "converged": bool(sol.converged),
        }
