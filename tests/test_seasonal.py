"""Promotions known in advance: the seasonal base-stock policy (baselines.seasonal), the
season profile around the peaks (experiments.season_profile) and the promotions study's
config (conf/experiment/promotions.yaml) end to end on a tiny budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import single_node_config
from omegaconf import OmegaConf

from baselines.evaluation import evaluate
from baselines.policies import BaseStock
from baselines.registry import make_policy
from baselines.seasonal import SeasonalBaseStock, peak_excess
from baselines.structure import replenishment_tree
from envs.network import build_network
from envs.transition import initial_state
from experiments.season_profile import peak_window, season_profile

ROOT = Path(__file__).resolve().parent.parent
PROMO = {"period": 26, "promotions": [{"start": 20, "end": 23, "lift": 3}]}


def promo_network(**kw):
    """One lost-sales store, Poisson 5 a period tripled in periods 20-22 of 26, lead time 4."""
    return build_network(
        single_node_config(
            demand={"mean": 5, "seasonality": PROMO}, lead_time=4, holding_cost=1, **kw
        )
    )


def test_peak_excess_is_the_promotions_extra_mean_demand():
    net = promo_network()
    excess = peak_excess(net, replenishment_tree(net).served)
    expected = np.zeros(26)
    expected[20:23] = 10.0  # 3 x 5 - 5 (the median period's mean)
    np.testing.assert_allclose(excess[0], expected, atol=1e-9)


@pytest.mark.parametrize(
    "prebuild, targets",
    [
        # S_t = 20 + extra demand of periods t..t+4 (+ prebuild), counted by hand.
        (0, {14: 20, 15: 20, 16: 30, 17: 40, 18: 50, 20: 50, 22: 30, 23: 20, 25: 20}),
        (2, {13: 20, 14: 30, 15: 40, 16: 50, 20: 50, 22: 30, 23: 20}),
        # A window longer than the cycle counts every whole cycle once more (30 each).
        (26, {0: 20 + 30 + 0, 16: 20 + 30 + 10, 23: 20 + 30 + 0}),
    ],
)
def test_target_adds_the_extra_demand_of_the_window(prebuild, targets):
    policy = SeasonalBaseStock(promo_network(), levels=20, prebuild=prebuild)
    periods = np.array(list(targets)) + 26  # the second cycle: the table wraps
    got = policy.target(periods)[:, 0]
    np.testing.assert_array_equal(got, list(targets.values()))


def test_on_stationary_demand_it_is_base_stock():
    net = build_network(single_node_config(lead_time=3))
    seasonal = SeasonalBaseStock(net, levels=17, prebuild=3)
    plain = BaseStock(net, levels=17)
    a = evaluate(net, seasonal, num_envs=4, periods=60, warmup=10, seed=1)
    b = evaluate(net, plain, num_envs=4, periods=60, warmup=10, seed=1)
    np.testing.assert_array_equal(a.cost_per_env, b.cost_per_env)


def test_batched_parameters_act_per_env():
    net = promo_network()
    state = initial_state(net, 2)
    state.period[:] = 14
    policy = SeasonalBaseStock(net, levels=[[20], [25]], prebuild=[[0], [2]])
    np.testing.assert_array_equal(policy.act(state)[:, 0], [20, 35])


def test_fractional_prebuild_is_refused():
    with pytest.raises(ValueError, match=r"^prebuild: must be whole periods, got \[1\.5\]"):
        SeasonalBaseStock(promo_network(), levels=20, prebuild=[1.5])


def test_tuned_seasonal_base_stock_beats_a_stationary_level():
    # On common noise with a small budget: seeing the calendar pays off.
    net = promo_network()
    budget = {"envs": 16, "periods": 312, "warmup": 52, "eval_envs": 16}
    budget |= {"eval_periods": 312, "eval_warmup": 52, "progress": False}
    costs = {}
    for name in ("base_stock", "seasonal_base_stock"):
        policy, params = make_policy(name, net, tune=budget, seed=4)
        costs[name] = evaluate(net, policy, num_envs=32, periods=520, warmup=104).cost_mean
    assert params["source"].startswith("search:")
    assert costs["seasonal_base_stock"] < 0.75 * costs["base_stock"], costs


def test_season_profile_adds_up_to_the_evaluation():
    net = promo_network()
    policy = SeasonalBaseStock(net, levels=20, prebuild=1)
    cfg = OmegaConf.create({"envs": 8, "periods": 260, "warmup": 52, "seed": 7})
    profile = season_profile(net, {"sbs": policy}, cfg)
    assert list(profile.phase) == list(range(26))
    result = evaluate(net, policy, num_envs=8, periods=260, warmup=52, seed=7)
    # Every phase has the same number of periods after the warm-up (208 = 8 cycles), so the
    # mean over phases is the mean over periods: the same fill rate as the evaluation.
    filled = (profile.fill_rate * profile.demand).sum()
    assert filled / profile.demand.sum() == pytest.approx(result.fill_rate, rel=1e-12)
    assert profile.demand[20:23].mean() > 2.5 * profile.demand[:20].mean()
    # Stock is pre-positioned: more on hand at the start of the peak than in a quiet period.
    assert profile.on_hand[20] > profile.on_hand[10] + 5


def test_peak_window_spans_the_build_up_and_the_peak():
    assert peak_window(promo_network()) == list(range(13, 25))


@pytest.mark.slow
def test_promotions_study_runs_end_to_end(tmp_path):
    # The study's config on a tiny budget: both scenarios, the profile in the report.
    small = [
        "benchmark.tune={envs: 8, periods: 130, warmup: 26, eval_envs: 8, eval_periods: 130, "
        "eval_warmup: 26, seed: 99}",
        "benchmark.eval={envs: 8, periods: 156, warmup: 26, seed: 12345}",
        'benchmark.agents.0.overrides=["agent.num_envs=4","agent.model.steps=2",'
        '"agent.model.horizon=30","agent.model.warmup=4","agent.model.eval_every=1",'
        '"agent.model.hidden=[8]"]',
        "benchmark.train.baselines=[]",
        "+benchmark.train.eval={envs: 4, periods: 60, warmup: 10, seed: 2024}",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "experiment=promotions", *small]
        + [f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(summary) >= {"promo", "promo_capacity8"}
    report = (tmp_path / "report.md").read_text()
    assert "### Around the peaks: promo_capacity8" in report
    assert "hdpo[seed=0]: on hand / short" in report  # the agent is profiled too
    for name in ("promo", "promo_capacity8"):
        assert (tmp_path / f"season_profile_{name}.png").stat().st_size > 1000
        assert (tmp_path / f"season_profile_{name}.csv").exists()
