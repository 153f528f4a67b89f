"""Tests of baselines/value_iteration.py.

References used here, all independent of the code under test:
- Zipkin (2008), "Old and new methods for lost-sales inventory systems", Operations Research
  56(5), 1256-1263, Table 3, "Optimal" rows: Poisson mean 5, h = 1, same timing as the
  project (order arrives before the demand of period t + L, costs on end-of-period stock);
- an exact Markov-chain evaluation of any stationary policy, written below (reachable states
  by breadth-first search, stationary law by a dense linear solve);
- a Monte Carlo simulation of the period-by-period dynamics driving ``OptimalPolicy``
  through a duck-typed state with the simulator's field layout, written below;
- the analytic backlog optima (newsvendor, Zheng-Federgruen), themselves tested against
  Markov chains and simulation in tests/test_analytic.py.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from baselines.analytic import newsvendor_base_stock, optimal_base_stock_backlog, zheng_federgruen
from baselines.value_iteration import OptimalPolicy, ValueIterationSolution, solve_value_iteration

# Zipkin (2008), Table 3, optimal average cost, Poisson(5) demand, h = 1: {(L, p): cost}.
ZIPKIN_2008_OPTIMAL = {
    (1, 4): 4.04, (2, 4): 4.40, (3, 4): 4.60, (4, 4): 4.73,
    (1, 9): 5.44, (2, 9): 6.09, (3, 9): 6.53, (4, 9): 6.84,
    (1, 19): 6.68, (2, 19): 7.66, (3, 19): 8.36, (4, 19): 8.89,
    (1, 39): 7.84, (2, 39): 9.11, (3, 39): 10.04, (4, 39): 10.79,
}  # fmt: skip


# ------------------------------------------------------------------------------------------
# independent helpers
# ------------------------------------------------------------------------------------------


def _pmf(lam: float) -> np.ndarray:
    """Poisson pmf cut where the tail mass is < 1e-13 (negligible at the tested precision)."""
    k = np.arange(int(stats.poisson.isf(1e-13, lam)) + 1)
    p = stats.poisson.pmf(k, lam)
    return p / p.sum()


def _exact_policy_cost(
    order: Callable[[int, tuple[int, ...]], int],
    pmf: np.ndarray,
    L: int,
    h: float,
    p: float,
    K: float,
    c: float,
    lost_sales: bool,
    start: tuple[int, ...],
) -> float:
    """Long-run average cost of a stationary policy by an exact Markov chain.

    State (z, q_1..q_{L-1}) at the decision epoch; ``order(z, q)`` is the order quantity.
    Demand outcomes beyond the pmf's support have negligible mass (< 1e-12).
    """
    d = np.arange(pmf.size)
    index: dict[tuple[int, ...], int] = {start: 0}
    frontier = [start]
    rows: list[tuple[int, int, float]] = []
    cost: list[float] = []
    while frontier:
        nxt = []
        for s in frontier:
            z, q = s[0], s[1:]
            a = int(order(z, q))
            y = z + a if L == 0 else z  # stock that faces this period's demand
            left = y - d
            cost.append(
                float(pmf @ (h * np.maximum(left, 0) + p * np.maximum(-left, 0)))
                + K * (a > 0)
                + c * a
            )
            after = np.maximum(left, 0) if lost_sales else left
            for k, prob in enumerate(pmf):
                if prob < 1e-15:
                    continue
                if L == 0:
                    s2 = (int(after[k]),)
                elif L == 1:
                    s2 = (int(after[k]) + a,)
                else:
                    s2 = (int(after[k]) + q[0],) + tuple(q[1:]) + (a,)
                if s2 not in index:
                    index[s2] = len(index)
                    nxt.append(s2)
                rows.append((index[s], index[s2], prob))
        frontier = nxt
    n = len(index)
    P = np.zeros((n, n))
    for i, j, prob in rows:
        P[i, j] += prob
    A = np.vstack([P.T - np.eye(n), np.ones(n)])
    pi = np.linalg.lstsq(A, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return float(pi @ np.asarray(cost))


def _base_stock(S: int) -> Callable[[int, tuple[int, ...]], int]:
    return lambda z, q: max(S - z - sum(q), 0)


def _vi_order(sol: ValueIterationSolution) -> Callable[[int, tuple[int, ...]], int]:
    def order(z: int, q: tuple[int, ...]) -> int:
        pipe = np.asarray(q, dtype=np.int64).reshape(1, -1)
        return int(sol.order_quantity(np.array([z]), pipe)[0])

    return order


def _simulate_policy(
    policy: OptimalPolicy,
    lam: float,
    L: int,
    h: float,
    p: float,
    K: float,
    lost_sales: bool,
    replications: int,
    periods: int,
    seed: int,
) -> tuple[float, float]:
    """Simulate a batched policy through a duck-typed simulator state (project timing).

    Two nodes (0 = supplier, 1 = store) and two lanes (lane 0 unused, lane 1 supplier ->
    store with lead time L). Returns (mean cost per period, 95% CI half-width) across
    independent replications.
    """
    rng = np.random.default_rng(seed)
    B = replications
    Lmax = max(L, 1)
    state = SimpleNamespace(
        on_hand=np.zeros((B, 2), dtype=np.int64),
        backlog=np.zeros((B, 2), dtype=np.int64),
        pipeline=np.zeros((B, 2, Lmax), dtype=np.int64),
        period=np.zeros(B, dtype=np.int64),
    )
    warm = periods // 10
    total = np.zeros(B)
    for t in range(periods):
        # 1. arrivals
        state.on_hand[:, 1] += state.pipeline[:, 1, 0]
        state.pipeline[:, :, :-1] = state.pipeline[:, :, 1:]
        state.pipeline[:, :, -1] = 0
        if not lost_sales:  # backlog is served first
            served = np.minimum(state.on_hand[:, 1], state.backlog[:, 1])
            state.on_hand[:, 1] -= served
            state.backlog[:, 1] -= served
        # 2. decision
        orders = policy.act(state)
        assert orders.shape == (B, 2) and np.all(orders[:, 0] == 0)
        a = orders[:, 1]
        if L == 0:
            state.on_hand[:, 1] += a
        else:
            state.pipeline[:, 1, L - 1] += a
        # 3. demand
        d = rng.poisson(lam, size=B)
        sales = np.minimum(state.on_hand[:, 1], d)
        state.on_hand[:, 1] -= sales
        short = d - sales
        if not lost_sales:
            state.backlog[:, 1] += short
        # 4. costs
        pen = p * (short if lost_sales else state.backlog[:, 1])
        if t >= warm:
            total += h * state.on_hand[:, 1] + pen + K * (a > 0)
        state.period += 1
    per_rep = total / (periods - warm)
    half = stats.t.ppf(0.975, B - 1) * per_rep.std(ddof=1) / np.sqrt(B)
    return float(per_rep.mean()), float(half)


# ------------------------------------------------------------------------------------------
# published optima
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("L", "p"), sorted(ZIPKIN_2008_OPTIMAL))
def test_zipkin_2008_lost_sales_optimal_costs(L: int, p: float) -> None:
    sol = solve_value_iteration(stats.poisson(5.0), L, 1.0, p, lost_sales=True)
    assert sol.converged and not sol.bound_hit
    assert sol.average_cost_bounds[1] - sol.average_cost_bounds[0] < 1e-6
    assert round(sol.average_cost, 2) == pytest.approx(ZIPKIN_2008_OPTIMAL[(L, p)], abs=1e-9)


def test_largest_instance_lost_sales_L4_p39() -> None:
    # Its solve time is a benchmark figure (README), not asserted here.
    sol = solve_value_iteration(stats.poisson(5.0), 4, 1.0, 39.0)
    assert sol.converged and not sol.bound_hit
    assert round(sol.average_cost, 2) == 10.79


# ------------------------------------------------------------------------------------------
# exact checks against independent Markov chains
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lam", "L", "p", "K", "c"),
    [
        (3.0, 2, 9.0, 0.0, 0.0),
        (3.0, 1, 4.0, 5.0, 1.0),
        (2.0, 3, 19.0, 0.0, 0.5),
        (3.0, 0, 9.0, 8.0, 0.0),
    ],
)
def test_lost_sales_vi_cost_is_exact_cost_of_its_policy(
    lam: float, L: int, p: float, K: float, c: float
) -> None:
    sol = solve_value_iteration(stats.poisson(lam), L, 1.0, p, fixed_cost=K, unit_cost=c, tol=1e-9)
    start = (0,) * max(L, 1)
    exact = _exact_policy_cost(_vi_order(sol), _pmf(lam), L, 1.0, p, K, c, True, start)
    assert sol.average_cost == pytest.approx(exact, rel=1e-7)


@pytest.mark.parametrize(("lam", "L", "p"), [(3.0, 1, 9.0), (3.0, 2, 4.0), (1.5, 3, 9.0)])
def test_lost_sales_optimal_below_best_base_stock(lam: float, L: int, p: float) -> None:
    sol = solve_value_iteration(stats.poisson(lam), L, 1.0, p, tol=1e-9)
    start = (0,) * L
    # The "standard" base-stock level: the backlog newsvendor level (Zipkin 2008's bound);
    # the best base-stock level of the lost-sales system lies below it.
    s_bar = newsvendor_base_stock(stats.poisson.pmf(np.arange(60), lam * (L + 1)), 1.0, p)
    bs = {
        S: _exact_policy_cost(_base_stock(S), _pmf(lam), L, 1.0, p, 0.0, 0.0, True, start)
        for S in range(max(s_bar - 6, 0), s_bar + 1)
    }
    best_S = min(bs, key=bs.get)
    assert min(bs) < best_S  # interior minimum: the search range was wide enough
    assert sol.average_cost <= bs[best_S] + 1e-9
    assert bs[best_S] <= bs[s_bar] + 1e-12
    assert sol.average_cost < bs[best_S] - 1e-4  # with L >= 1 base-stock is not optimal
    assert best_S <= s_bar


def test_lost_sales_zero_lead_time_is_newsvendor() -> None:
    # L = 0: the order lands before demand, so every period is the same newsvendor with
    # underage cost p (the next state never restricts the order-up-to level).
    for p in (4.0, 9.0):
        sol = solve_value_iteration(stats.poisson(5.0), 0, 1.0, p)
        nv = optimal_base_stock_backlog(stats.poisson(5.0), 0, 1.0, p)
        assert sol.average_cost == pytest.approx(nv.cost, abs=1e-6)
        assert sol.policy[0] == nv.base_stock_level


# ------------------------------------------------------------------------------------------
# simulation of the policy through the batched interface
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("L", "p", "K", "lost"),
    [(3, 9.0, 0.0, True), (1, 9.0, 10.0, False), (0, 4.0, 0.0, True), (2, 19.0, 0.0, False)],
)
def test_optimal_policy_simulation_matches_vi_cost(L: int, p: float, K: float, lost: bool) -> None:
    lam = 5.0
    sol = solve_value_iteration(stats.poisson(lam), L, 1.0, p, fixed_cost=K, lost_sales=lost)
    policy = OptimalPolicy(sol, node=1, lane=1)
    mean, half = _simulate_policy(
        policy, lam, L, 1.0, p, K, lost, replications=256, periods=1500, seed=7
    )
    assert abs(mean - sol.average_cost) <= half, (mean, half, sol.average_cost)


# ------------------------------------------------------------------------------------------
# backlog: equals the analytic optima
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lam", "L", "b"), [(4.0, 0, 9.0), (4.0, 1, 4.0), (3.0, 2, 19.0)])
def test_backlog_vi_equals_newsvendor(lam: float, L: int, b: float) -> None:
    sol = solve_value_iteration(stats.poisson(lam), L, 1.0, b, lost_sales=False, unit_cost=0.5)
    nv = optimal_base_stock_backlog(stats.poisson(lam), L, 1.0, b, unit_cost=0.5)
    assert sol.average_cost == pytest.approx(nv.cost, abs=1e-5)
    # The policy is base-stock on the inventory position, level S (checked away from the
    # clipping level z_min of the net inventory).
    assert sol.min_net_inventory <= -20
    z = np.arange(-5, nv.base_stock_level + 1)
    q = np.zeros((z.size, max(L - 1, 0)), dtype=np.int64)
    np.testing.assert_array_equal(sol.order_quantity(z, q), nv.base_stock_level - z)


@pytest.mark.parametrize(
    ("lam", "L", "b", "K"), [(4.0, 0, 9.0, 20.0), (4.0, 1, 19.0, 50.0), (3.0, 2, 9.0, 15.0)]
)
def test_backlog_vi_equals_zheng_federgruen(lam: float, L: int, b: float, K: float) -> None:
    sol = solve_value_iteration(stats.poisson(lam), L, 1.0, b, lost_sales=False, fixed_cost=K)
    s, S, cost = zheng_federgruen(stats.poisson(lam), L, 1.0, b, K)
    assert sol.average_cost == pytest.approx(cost, abs=1e-5)
    # (s, S) structure on the inventory position, away from the clipping level z_min.
    assert sol.min_net_inventory <= s - 20
    z = np.arange(s - 5, S + 1)
    q = np.zeros((z.size, max(L - 1, 0)), dtype=np.int64)
    expected = np.where(z <= s, S - z, 0)
    np.testing.assert_array_equal(sol.order_quantity(z, q), expected)


# ------------------------------------------------------------------------------------------
# bounds, policy object, arguments
# ------------------------------------------------------------------------------------------


def test_bound_is_enlarged_when_hit() -> None:
    sol = solve_value_iteration(stats.poisson(5.0), 2, 1.0, 9.0, max_inventory_position=12)
    assert sol.max_inventory_position > 12 and not sol.bound_hit
    assert round(sol.average_cost, 2) == 6.09
    with pytest.warns(RuntimeWarning, match="max_inventory_position"):
        tight = solve_value_iteration(
            stats.poisson(5.0), 2, 1.0, 9.0, max_inventory_position=12, auto_expand=0
        )
    assert tight.bound_hit and tight.average_cost > sol.average_cost


def test_optimal_policy_act_layout_and_clipping() -> None:
    sol = solve_value_iteration(stats.poisson(5.0), 3, 1.0, 9.0)
    B, E, Lmax = 5, 3, 4
    state = SimpleNamespace(
        on_hand=np.zeros((B, 2), dtype=np.int64),
        backlog=np.zeros((B, 2), dtype=np.int64),
        pipeline=np.zeros((B, E, Lmax), dtype=np.int64),
        period=np.zeros(B, dtype=np.int64),
    )
    state.on_hand[:, 1] = [0, 3, 10, 500, 2]
    state.pipeline[:, 2, 0] = [0, 5, 4, 0, 1]
    state.pipeline[:, 2, 1] = [0, 5, 0, 0, 2]
    orders = OptimalPolicy(sol, node=1, lane=2).act(state)
    assert orders.shape == (B, E) and orders.dtype == state.pipeline.dtype
    assert np.all(orders[:, :2] == 0)
    for i in range(B):
        z, q = int(state.on_hand[i, 1]), tuple(int(v) for v in state.pipeline[i, 2, :2])
        if z + sum(q) > sol.max_inventory_position:
            assert orders[i, 2] == 0  # above the table: order nothing
        else:
            assert orders[i, 2] == sol.policy[(z,) + q]
    state.pipeline[0, 2, 2] = 1  # a slot the lead time-3 lane can't have filled
    with pytest.raises(ValueError, match="pipeline slots"):
        OptimalPolicy(sol, node=1, lane=2).act(state)


def test_solution_documents_bounds() -> None:
    sol = solve_value_iteration(stats.poisson(5.0), 2, 1.0, 9.0)
    assert sol.policy.shape == (sol.max_inventory_position + 1,) * 2
    assert sol.max_order == sol.max_inventory_position - sol.min_net_inventory
    feasible = sol.policy >= 0
    z, q1 = np.nonzero(feasible)
    a = sol.policy[feasible]
    # No order ever brings the inventory position up to the bound: the bound does not bind.
    assert np.all((a == 0) | (z + q1 + a < sol.max_inventory_position))
    assert sol.demand_pmf.sum() == pytest.approx(1.0)
    assert stats.poisson.sf(sol.demand_pmf.size - 1, 5.0) <= 1e-10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"holding_cost": -1.0}, "holding_cost"),
        ({"penalty": -2.0}, "penalty"),
        ({"lead_time": -1}, "lead_time"),
        ({"lead_time": 7}, "lead_time"),
        ({"fixed_cost": -1.0}, "fixed_cost"),
        ({"unit_cost": -0.5}, "unit_cost"),
        ({"demand": []}, "pmf"),
        ({"aperiodicity": 0.0}, "aperiodicity"),
        ({"max_inventory_position": 0}, "max_inventory_position"),
        ({"lost_sales": False, "min_net_inventory": 3}, "min_net_inventory"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"demand": stats.poisson(3.0), "lead_time": 1, "holding_cost": 1.0, "penalty": 4.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solve_value_iteration(**args)
    sol = solve_value_iteration(stats.poisson(3.0), 1, 1.0, 4.0)
    with pytest.raises(ValueError, match="lane"):
        OptimalPolicy(sol, node=1, lane=-1)


def test_aperiodicity_transformation_keeps_the_optimum() -> None:
    plain = solve_value_iteration(stats.poisson(5.0), 2, 1.0, 9.0)
    damped = solve_value_iteration(stats.poisson(5.0), 2, 1.0, 9.0, aperiodicity=0.5)
    assert damped.average_cost == pytest.approx(plain.average_cost, abs=2e-6)
    np.testing.assert_array_equal(damped.policy, plain.policy)


@pytest.mark.parametrize(
    ("preset", "L", "p", "K", "lost"),
    [("lost_sales", 2, 9.0, 0.0, True), ("backlog", 1, 9.0, 10.0, False)],
)
def test_optimal_policy_in_the_project_simulator(
    preset: str, L: int, p: float, K: float, lost: bool
) -> None:
    # Integration: the VI optimum, evaluated by the project's own simulator and evaluator,
    # lands inside the evaluator's 95% CI (same timing and cost accounting).
    import baselines.evaluation as evaluation
    import envs.presets as presets

    overrides = [f"env.lead_time={L}", f"env.penalty={p}", f"env.fixed_cost={K}"]
    net = presets.make_network(presets.load_env_config(preset, overrides))
    sol = solve_value_iteration(stats.poisson(5.0), L, 1.0, p, fixed_cost=K, lost_sales=lost)
    res = evaluation.evaluate(net, OptimalPolicy(sol, node=1, lane=0), 128, 2000, 200, seed=1)
    assert abs(res.cost_mean - sol.average_cost) <= res.cost_ci95, (res.cost_mean, res.cost_ci95)
