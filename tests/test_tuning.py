"""Tuning: common random numbers, exhaustive agreement, exact methods, the ordering
optimal <= capped base-stock <= base-stock on a small lost-sales instance."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import single_node_config

from baselines import analytic
from baselines.evaluation import evaluate, paired_difference
from baselines.policies import SS, BaseStock, CappedBaseStock
from baselines.single_node import optimal_policy
from baselines.tuning import (
    CommonNoise,
    TuneBudget,
    batch_costs,
    coordinate_search,
    tune_policy,
)
from envs.network import build_network
from envs.presets import load_env_config, make_network

SMALL = TuneBudget(envs=48, periods=200, warmup=50, eval_envs=16, eval_periods=300)


@pytest.fixture(scope="module")
def lost_sales():
    return make_network(load_env_config("lost_sales"))


def test_batched_candidates_cost_exactly_what_evaluate_reports(lost_sales):
    noise = CommonNoise(lost_sales, 12, 150, seed=4)
    levels = np.array([[14.0], [19.0], [23.0]])
    batched = batch_costs(
        lost_sales,
        lambda rows: BaseStock(lost_sales, levels=rows),
        levels,
        noise,
        30,
        batch_envs=24,  # two candidates per simulation: the chunking must not matter
    )
    alone = [
        evaluate(lost_sales, BaseStock(lost_sales, levels=lv), 12, 150, 30, seed=4).cost_mean
        for lv in levels
    ]
    np.testing.assert_allclose(batched, alone, rtol=1e-12)


def test_tuned_base_stock_is_the_exhaustive_optimum(lost_sales):
    tuned = tune_policy(BaseStock, lost_sales, budget=SMALL, seed=7)
    levels = np.arange(12, 27)
    costs = [
        evaluate(
            lost_sales,
            BaseStock(lost_sales, levels=[s]),
            SMALL.envs,
            SMALL.periods,
            SMALL.warmup,
            seed=7,
        ).cost_mean
        for s in levels
    ]
    assert tuned.params["levels"][0] == levels[int(np.argmin(costs))]
    assert tuned.search_cost == pytest.approx(min(costs))
    assert tuned.method.startswith("search: exhaustive")
    assert np.isfinite(tuned.cost_ci95) and tuned.cost_ci95 > 0  # fresh-noise re-evaluation


def test_exact_parameters_where_theory_applies():
    backlog = make_network(load_env_config("backlog", ["env.fixed_cost=20"]))
    pmf = backlog.demand.pmf(0)
    base = tune_policy(BaseStock, backlog, budget=SMALL)
    expected = analytic.newsvendor_base_stock(analytic.convolve_periods(pmf, 3), 1.0, 9.0)
    assert base.method.startswith("exact") and base.params["levels"][0] == expected
    assert base.evaluations == 0
    s_S = tune_policy(SS, backlog, budget=SMALL)
    s, S, _ = analytic.zheng_federgruen(pmf, 2, 1.0, 9.0, 20.0)
    assert s_S.method.startswith("exact: Zheng-Federgruen")
    assert (s_S.params["reorder_points"][0], s_S.params["order_up_to_levels"][0]) == (s, S)


def test_coordinate_search_finds_the_integer_minimum():
    target = np.array([13.0, 2.0, 40.0])

    def cost(points):
        return np.sum((points - target) ** 2 * [1.0, 3.0, 0.5], axis=1)

    x, fx = coordinate_search(cost, np.array([0.0, 30.0, 0.0]), np.zeros(3))
    np.testing.assert_array_equal(x, target)
    assert fx == 0


def test_budget_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown budget keys"):
        TuneBudget.from_mapping({"envz": 3})
    with pytest.raises(ValueError, match="warmup=50 must be less than periods=50"):
        TuneBudget(periods=50, warmup=50)


def test_optimal_le_capped_le_base_stock_on_small_lost_sales():
    """Value iteration <= best capped base-stock <= best base-stock (Xin 2021), each tuned
    on its own noise, compared pairwise on fresh common noise."""
    net = build_network(single_node_config(lead_time=1, holding_cost=1, penalty=9))
    budget = TuneBudget(envs=128, periods=300, warmup=50, eval_envs=16, eval_periods=300)
    base = tune_policy(BaseStock, net, budget=budget, seed=1)
    capped = tune_policy(CappedBaseStock, net, budget=budget, seed=1)
    opt = optimal_policy(net)
    common = {"num_envs": 256, "periods": 800, "warmup": 100, "seed": 99}
    r_base = evaluate(net, BaseStock(net, **base.params), **common)
    r_capped = evaluate(net, CappedBaseStock(net, **capped.params), **common)
    r_opt = evaluate(net, opt, **common)
    d_capped, ci_capped = paired_difference(r_capped, r_base)
    d_opt, ci_opt = paired_difference(r_opt, r_capped)
    assert d_capped <= ci_capped
    assert d_opt <= ci_opt
    assert opt.solution.average_cost <= r_capped.cost_mean + r_capped.cost_ci95


@pytest.mark.slow
def test_tuning_the_network_preset_improves_on_its_start():
    # Its time is a benchmark figure (README), not asserted here.
    net = make_network(load_env_config("network"))
    tuned = tune_policy(BaseStock, net, seed=0)
    start = evaluate(net, BaseStock(net, **_computed(net)), 256, 1000, 200, seed=1)
    assert tuned.cost_mean < start.cost_mean


def _computed(net):
    from baselines.parameters import computed_parameters

    return computed_parameters(BaseStock, net).params
