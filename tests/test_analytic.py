"""Tests of baselines/analytic.py against numbers computed independently in this file.

Independent references used here (none of them calls the code under test):
- scipy.stats pmfs of sums (Poisson: the L+1 period demand is Poisson((L+1) mean));
- exact Markov-chain evaluation of (s, S) policies on the inventory position, written below;
- Monte Carlo simulations of the period-by-period dynamics in the project timing (arrivals,
  decision, demand, end-of-period costs), written below, seeded, with batch-means CIs;
- hand-checkable special cases and the published Zheng & Federgruen (1991) example.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from baselines.analytic import (
    base_stock_backlog_cost,
    convolve_periods,
    demand_pmf,
    expected_shortfall,
    lead_time_demand_pmf,
    newsvendor_base_stock,
    optimal_base_stock_backlog,
    s_S_cost,
    serial_echelon_base_stock,
    serial_echelon_cost,
    zheng_federgruen,
)

# ------------------------------------------------------------------------------------------
# independent helpers
# ------------------------------------------------------------------------------------------


def _poisson_G(y: int, lam: float, h: float, b: float) -> float:
    """h E(y-D)^+ + b E(D-y)^+ for D ~ Poisson(lam), by direct summation with scipy."""
    k = np.arange(0, int(lam + 40 * np.sqrt(lam) + 60))
    p = stats.poisson.pmf(k, lam)
    return float(h * (np.maximum(y - k, 0) @ p) + b * (np.maximum(k - y, 0) @ p))


def _poisson_G_vec(y: np.ndarray, lam: float, h: float, b: float) -> np.ndarray:
    k = np.arange(0, int(lam + 40 * np.sqrt(lam) + 60))
    p = stats.poisson.pmf(k, lam)
    diff = y[:, None] - k[None, :]
    return h * (np.maximum(diff, 0) @ p) + b * (np.maximum(-diff, 0) @ p)


def _ss_markov_cost(s: int, S: int, lam: float, L: int, h: float, b: float, K: float) -> float:
    """Exact (s, S) cost from the stationary law of the inventory position after ordering.

    The position after ordering y lives in {s+1..S}; next period's position before ordering
    is y - d; if it is <= s an order (cost K) brings it back to S. The end-of-period net
    inventory L periods later is y - D^(L+1), so the expected holding/backlog cost is
    G(y) with D^(L+1) ~ Poisson((L+1) lam).
    """
    states = np.arange(s + 1, S + 1)
    n = states.size
    drop = states[:, None] - states[None, :]  # y - y2
    P = np.where(drop >= 0, stats.poisson.pmf(np.maximum(drop, 0), lam), 0.0)
    order_prob = stats.poisson.sf(states - s - 1, lam)  # P(y - d <= s) = P(d >= y - s)
    P[:, n - 1] += order_prob
    A = np.vstack([P.T - np.eye(n), np.ones(n)])
    rhs = np.concatenate([np.zeros(n), [1.0]])
    pi = np.linalg.lstsq(A, rhs, rcond=None)[0]
    G = _poisson_G_vec(states, (L + 1) * lam, h, b)
    return float(pi @ G + K * (pi @ order_prob))


def _simulate_single_node_backlog(
    s: np.ndarray,
    S: np.ndarray,
    lam: float,
    L: int,
    h: float,
    b: float,
    K: float,
    periods: int,
    seed: int,
    batches: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Period-by-period (s, S) dynamics with a pipeline, backlog, project timing.

    Vectorised over policies (common random numbers). Returns (mean cost, 95% CI half-width)
    per policy from batch means.
    """
    rng = np.random.default_rng(seed)
    n = s.size
    demand = rng.poisson(lam, size=periods)
    net = S.astype(np.int64).copy()  # on-hand - backlog
    pipe = np.zeros((n, L + 1), dtype=np.int64)  # pipe[:, k] arrives in k periods
    warm = periods // 10
    costs = np.zeros((periods - warm, n))
    for t in range(periods):
        net += pipe[:, 0]  # 1. arrivals
        pipe[:, :-1] = pipe[:, 1:]
        pipe[:, -1] = 0
        position = net + pipe.sum(axis=1)  # 2. decision
        q = np.where(position <= s, S - position, 0)
        if L == 0:
            net += q
        else:
            pipe[:, L - 1] += q
        net -= demand[t]  # 3. demand (backlog)
        c = h * np.maximum(net, 0) + b * np.maximum(-net, 0) + K * (q > 0)  # 4. costs
        if t >= warm:
            costs[t - warm] = c
    bm = costs[: (costs.shape[0] // batches) * batches].reshape(batches, -1, n).mean(axis=1)
    half = stats.t.ppf(0.975, batches - 1) * bm.std(axis=0, ddof=1) / np.sqrt(batches)
    return costs.mean(axis=0), half


def _simulate_serial(
    levels: np.ndarray,
    lam: float,
    lead_times: list[int],
    H: list[float],
    b: float,
    periods: int,
    seed: int,
    batches: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Serial system under echelon base-stock levels, project timing, vectorised over policies.

    levels: [P, n] echelon levels (stage 1 first). Each period: arrivals; decisions from the
    most upstream stage down (stage n orders from the infinite supplier up to S_n; stage j
    raises its echelon position towards S_j with what stage j+1 has on hand, shipped with
    lead time L_j; zero lead time lands at once); demand at stage 1 (backlog); costs
    sum_j H_j on_hand_j + b backlog.
    """
    rng = np.random.default_rng(seed)
    P, n = levels.shape
    demand = rng.poisson(lam, size=periods)
    Lmax = max(lead_times) + 1
    on_hand = np.zeros((P, n), dtype=np.int64)
    backlog = np.zeros(P, dtype=np.int64)
    pipe = np.zeros((P, n, Lmax), dtype=np.int64)  # pipe[:, j, k]: into stage j in k periods
    on_hand[:, n - 1] = levels[:, n - 1]
    warm = periods // 10
    costs = np.zeros((periods - warm, P))
    Hs = np.asarray(H, dtype=float)
    for t in range(periods):
        on_hand += pipe[:, :, 0]
        pipe[:, :, :-1] = pipe[:, :, 1:]
        pipe[:, :, -1] = 0
        for j in range(n - 1, -1, -1):
            # echelon position of stage j: stock at stages <= j, in transit into stages <= j
            position = on_hand[:, : j + 1].sum(1) + pipe[:, : j + 1].sum((1, 2)) - backlog
            want = np.maximum(levels[:, j] - position, 0)
            if j == n - 1:
                ship = want
            else:
                ship = np.minimum(want, on_hand[:, j + 1])
                on_hand[:, j + 1] -= ship
            if lead_times[j] == 0:
                on_hand[:, j] += ship
            else:
                pipe[:, j, lead_times[j] - 1] += ship
        served = np.minimum(on_hand[:, 0], backlog + demand[t])
        backlog = backlog + demand[t] - served
        on_hand[:, 0] -= served
        if t >= warm:
            costs[t - warm] = on_hand @ Hs + b * backlog
    bm = costs[: (costs.shape[0] // batches) * batches].reshape(batches, -1, P).mean(axis=1)
    half = stats.t.ppf(0.975, batches - 1) * bm.std(axis=0, ddof=1) / np.sqrt(batches)
    return costs.mean(axis=0), half


# ------------------------------------------------------------------------------------------
# demand distributions
# ------------------------------------------------------------------------------------------


def test_poisson_and_nbinom_pmf_match_scipy() -> None:
    # Truncated at the 1 - 1e-10 quantile and renormalised, like envs/demand.py.
    pmf = demand_pmf(stats.poisson(5.0))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(pmf, stats.poisson.pmf(np.arange(pmf.size), 5.0), rtol=1e-9)
    nb = stats.nbinom(3, 0.4)
    pmf = demand_pmf(nb)
    np.testing.assert_allclose(pmf, nb.pmf(np.arange(pmf.size)), rtol=1e-9)
    assert stats.poisson.sf(pmf.size - 1, 5.0) <= 1e-10  # truncated only in the far tail


def test_normal_rounded_at_zero() -> None:
    mu, sigma = 2.0, 3.0
    pmf = demand_pmf(stats.norm(mu, sigma))
    phi = stats.norm.cdf
    assert pmf[0] == pytest.approx(phi((0.5 - mu) / sigma), rel=1e-9)
    for k in (1, 2, 5, 9):
        expected = phi((k + 0.5 - mu) / sigma) - phi((k - 0.5 - mu) / sigma)
        assert pmf[k] == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("L", [0, 1, 3])
def test_lead_time_demand_is_L_plus_one_periods(L: int) -> None:
    ltd = lead_time_demand_pmf(stats.poisson(4.0), L)
    k = np.arange(ltd.size)
    # exact up to the 1e-10 tail mass dropped from the per-period pmf
    np.testing.assert_allclose(ltd, stats.poisson.pmf(k, 4.0 * (L + 1)), atol=1e-9)
    assert stats.poisson.sf(ltd.size - 1, 4.0 * (L + 1)) < 1e-9
    assert convolve_periods(np.array([0.5, 0.5]), 0).tolist() == [1.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.integers(-5, 20))
def test_expected_shortfall_matches_direct_sum(weights: list[float], y: int) -> None:
    w = np.asarray(weights)
    if w.sum() <= 0:
        w = np.ones_like(w)
    pmf = w / w.sum()
    direct = float(np.maximum(np.arange(pmf.size) - y, 0) @ pmf)
    assert float(expected_shortfall(pmf, y)) == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize(
    "bad",
    [[], [[0.5, 0.5]], [0.5, -0.1, 0.6], [0.2, 0.2], [np.nan, 1.0]],
)
def test_bad_pmf_raises(bad: list) -> None:
    with pytest.raises(ValueError, match="pmf"):
        demand_pmf(bad)


# ------------------------------------------------------------------------------------------
# newsvendor base stock
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lam", "L", "h", "b"),
    [(5.0, 0, 1.0, 9.0), (5.0, 2, 1.0, 4.0), (3.0, 1, 2.0, 19.0), (10.0, 3, 1.0, 1.0)],
)
def test_newsvendor_matches_brute_force(lam: float, L: int, h: float, b: float) -> None:
    sol = optimal_base_stock_backlog(stats.poisson(lam), L, h, b, unit_cost=0.5)
    # Brute force over levels with the cost computed by direct summation (scipy only).
    levels = np.arange(0, int(4 * lam * (L + 1)) + 20)
    brute = np.array([_poisson_G(int(S), (L + 1) * lam, h, b) for S in levels])
    assert sol.base_stock_level == int(levels[np.argmin(brute)])
    assert sol.cost == pytest.approx(brute.min() + 0.5 * lam, rel=1e-7)
    assert (
        newsvendor_base_stock(lead_time_demand_pmf(stats.poisson(lam), L), h, b)
        == sol.base_stock_level
    )


def test_newsvendor_hand_example() -> None:
    # D uniform on {0,..,9}, b/(b+h) = 0.75: smallest S with P(D <= S) >= 0.75 is S = 7 (0.8).
    assert newsvendor_base_stock(np.full(10, 0.1), holding_cost=1.0, backlog_cost=3.0) == 7
    # Ratio hit exactly: P(D <= 4) = 0.5 = b/(b+h) -> S = 4 (any S in [4,5] is optimal).
    assert newsvendor_base_stock(np.full(10, 0.1), holding_cost=1.0, backlog_cost=1.0) == 4


def test_base_stock_cost_matches_simulation() -> None:
    lam, L, h, b = 4.0, 2, 1.0, 9.0
    S = np.array([14, 17, 20])
    exact = [base_stock_backlog_cost(int(x), stats.poisson(lam), L, h, b) for x in S]
    # A base-stock policy is (S-1, S) (order whenever the position is below S), K = 0.
    mean, half = _simulate_single_node_backlog(S - 1, S, lam, L, h, b, 0.0, 60_000, seed=1)
    for e, m, hw in zip(exact, mean, half, strict=True):
        assert abs(m - e) <= max(hw, 0.02), (e, m, hw)


def test_newsvendor_bad_arguments() -> None:
    with pytest.raises(ValueError, match="holding_cost"):
        newsvendor_base_stock(np.full(4, 0.25), -1.0, 1.0)
    with pytest.raises(ValueError, match="backlog_cost"):
        optimal_base_stock_backlog(stats.poisson(3), 1, 1.0, -2.0)
    with pytest.raises(ValueError, match="lead_time"):
        optimal_base_stock_backlog(stats.poisson(3), -1, 1.0, 2.0)
    with pytest.raises(ValueError, match="pmf"):
        newsvendor_base_stock(np.array([]), 1.0, 1.0)


# ------------------------------------------------------------------------------------------
# (s, S): Zheng-Federgruen
# ------------------------------------------------------------------------------------------


def test_zheng_federgruen_published_example() -> None:
    # Zheng & Federgruen (1991), Table 1: Poisson mean 10, h = 1, p = 9, K = 64:
    # s* = 6, S* = 40, c* = 35.0215. Their model orders at the start of the period, the order
    # arrives at once, and costs are charged on the stock after the period's demand: the
    # project timing with L = 0. The independent Markov chain gives the same number.
    s, S, cost = zheng_federgruen(stats.poisson(10.0), 0, 1.0, 9.0, 64.0)
    assert (s, S) == (6, 40)
    # We get 35.02156: the published 35.0215 is truncated (not rounded) at 4 decimals.
    assert cost == pytest.approx(35.0215, abs=1e-4)
    assert _ss_markov_cost(6, 40, 10.0, 0, 1.0, 9.0, 64.0) == pytest.approx(cost, rel=1e-7)


@pytest.mark.parametrize(
    ("lam", "L", "h", "b", "K"),
    [
        (4.0, 0, 1.0, 9.0, 20.0),
        (4.0, 1, 1.0, 4.0, 10.0),
        (2.0, 2, 2.0, 19.0, 30.0),
        (3.0, 0, 1.0, 9.0, 0.0),
    ],
)
def test_zheng_federgruen_matches_brute_force_markov_chain(
    lam: float, L: int, h: float, b: float, K: float
) -> None:
    s, S, cost = zheng_federgruen(stats.poisson(lam), L, h, b, K)
    lo = int(lam * (L + 1)) - 8
    hi = int(lam * (L + 1)) + 30
    best = (np.inf, None)
    for s_ in range(lo, hi):
        for S_ in range(s_ + 1, hi + 1):
            c = _ss_markov_cost(s_, S_, lam, L, h, b, K)
            if c < best[0] - 1e-12:
                best = (c, (s_, S_))
    assert cost == pytest.approx(best[0], rel=1e-7)
    assert _ss_markov_cost(s, S, lam, L, h, b, K) == pytest.approx(cost, rel=1e-7)


@pytest.mark.parametrize(("s", "S"), [(3, 12), (-2, 5), (10, 11), (0, 30)])
def test_s_S_cost_matches_markov_chain(s: int, S: int) -> None:
    lam, L, h, b, K = 4.0, 1, 1.0, 9.0, 25.0
    exact = s_S_cost(s, S, stats.poisson(lam), L, h, b, K, unit_cost=0.3)
    assert exact == pytest.approx(_ss_markov_cost(s, S, lam, L, h, b, K) + 0.3 * lam, rel=1e-7)


def test_s_S_cost_matches_simulation_with_lead_time() -> None:
    # Checks the lead-time mapping (G on L + 1 periods) against the real pipeline dynamics.
    lam, L, h, b, K = 4.0, 2, 1.0, 9.0, 20.0
    s_opt, S_opt, cost = zheng_federgruen(stats.poisson(lam), L, h, b, K)
    s = np.array([s_opt, s_opt - 3])
    S = np.array([S_opt, S_opt + 4])
    mean, half = _simulate_single_node_backlog(s, S, lam, L, h, b, K, 60_000, seed=2)
    assert abs(mean[0] - cost) <= max(half[0], 0.03)
    other = s_S_cost(int(s[1]), int(S[1]), stats.poisson(lam), L, h, b, K)
    assert abs(mean[1] - other) <= max(half[1], 0.03)


def test_s_S_bad_arguments() -> None:
    with pytest.raises(ValueError, match="s must be < S"):
        s_S_cost(10, 5, stats.poisson(4), 0, 1.0, 9.0, 10.0)
    with pytest.raises(ValueError, match="fixed_cost"):
        zheng_federgruen(stats.poisson(4), 0, 1.0, 9.0, -1.0)
    with pytest.raises(ValueError, match="lead_time"):
        zheng_federgruen(stats.poisson(4), -2, 1.0, 9.0, 1.0)
    with pytest.raises(ValueError, match="holding_cost"):
        zheng_federgruen(stats.poisson(4), 0, -1.0, 9.0, 1.0)


# ------------------------------------------------------------------------------------------
# serial systems: Clark-Scarf / Chen-Zheng
# ------------------------------------------------------------------------------------------


def test_serial_single_stage_is_newsvendor() -> None:
    for L in (0, 2):
        ser = serial_echelon_base_stock(stats.poisson(5.0), [L], [1.0], 9.0)
        nv = optimal_base_stock_backlog(stats.poisson(5.0), L, 1.0, 9.0)
        assert ser.echelon_levels == (nv.base_stock_level,)
        assert ser.cost == pytest.approx(nv.cost, rel=1e-9)


def test_serial_hand_reductions() -> None:
    lam = 5.0
    # Free storage upstream (H_2 = 0): stage 2 can hold unlimited stock, so stage 1 behaves as
    # a single stage with lead time L_1 fed by an infinite supplier.
    ser = serial_echelon_base_stock(stats.poisson(lam), [2, 3], [1.0, 0.0], 9.0)
    nv = optimal_base_stock_backlog(stats.poisson(lam), 2, 1.0, 9.0)
    assert ser.echelon_levels[0] == nv.base_stock_level
    assert ser.cost == pytest.approx(nv.cost, rel=1e-8)
    # Same holding cost and an instantaneous link (L_1 = 0): the two stages are one stage with
    # lead time L_2.
    ser = serial_echelon_base_stock(stats.poisson(lam), [0, 3], [1.0, 1.0], 9.0)
    nv = optimal_base_stock_backlog(stats.poisson(lam), 3, 1.0, 9.0)
    assert ser.effective_echelon_levels[-1] == nv.base_stock_level
    assert ser.cost == pytest.approx(nv.cost, rel=1e-8)


@pytest.mark.parametrize(
    ("lam", "L", "H", "b"),
    [
        (5.0, [1, 1], [2.0, 1.0], 9.0),
        (3.0, [0, 2], [1.5, 0.5], 19.0),
        (2.0, [1, 1, 2], [3.0, 2.0, 1.0], 19.0),
    ],
)
def test_serial_optimum_is_brute_force_minimum(
    lam: float, L: list[int], H: list[float], b: float
) -> None:
    sol = serial_echelon_base_stock(stats.poisson(lam), L, H, b)
    n = len(L)
    # Exhaustive search of the exact cost over a box of monotone echelon levels around it.
    import itertools

    box = [range(max(v - 4, 0), v + 5) for v in sol.echelon_levels]
    best = min(
        serial_echelon_cost(lv, stats.poisson(lam), L, H, b)
        for lv in itertools.product(*box)
        if all(lv[j] <= lv[j + 1] for j in range(n - 1))
    )
    assert sol.cost == pytest.approx(best, rel=1e-10)
    assert sol.cost == pytest.approx(
        serial_echelon_cost(sol.echelon_levels, stats.poisson(lam), L, H, b)
    )
    assert sum(sol.installation_levels) == sol.effective_echelon_levels[-1]


@pytest.mark.parametrize(
    ("lam", "L", "H", "b"),
    [
        (5.0, [1, 1], [2.0, 1.0], 9.0),
        (3.0, [0, 2], [1.5, 0.5], 19.0),
        (2.0, [1, 1, 2], [3.0, 2.0, 1.0], 19.0),
    ],
)
def test_serial_cost_matches_simulation(lam: float, L: list[int], H: list[float], b: float) -> None:
    sol = serial_echelon_base_stock(stats.poisson(lam), L, H, b)
    opt = np.array(sol.echelon_levels)
    # The optimum and two perturbed policies, on common random numbers.
    cands = np.array([opt, opt + np.r_[-2, np.zeros(len(L) - 1, int)], opt + 3])
    mean, half = _simulate_serial(cands, lam, L, H, b, 40_000, seed=3)
    for lv, m, hw in zip(cands, mean, half, strict=True):
        exact = serial_echelon_cost(lv, stats.poisson(lam), L, H, b)
        assert abs(m - exact) <= max(hw, 0.01 * exact), (lv, exact, m, hw)
    assert mean[0] <= mean[1:].min() + half[0]


def test_serial_bad_arguments() -> None:
    with pytest.raises(ValueError, match="non-increasing"):
        serial_echelon_base_stock(stats.poisson(3), [1, 1], [1.0, 2.0], 9.0)
    with pytest.raises(ValueError, match=r"lead_times\[1\]"):
        serial_echelon_base_stock(stats.poisson(3), [1, -1], [2.0, 1.0], 9.0)
    with pytest.raises(ValueError, match="installation_holding_costs"):
        serial_echelon_base_stock(stats.poisson(3), [1, 1], [2.0], 9.0)
    with pytest.raises(ValueError, match="backlog_cost"):
        serial_echelon_base_stock(stats.poisson(3), [1], [1.0], -9.0)
    with pytest.raises(ValueError, match="pmf"):
        serial_echelon_base_stock([], [1], [1.0], 9.0)
