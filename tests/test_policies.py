"""Classical policies: hand-computed orders on hand-built states, bad parameters, the
echelon policy against Chen–Zheng's exact cost, the oracle, transfer rules."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lane, single_node_config, state_with, store, supplier
from scipy import stats

from baselines import analytic
from baselines.evaluation import evaluate
from baselines.oracle import HindsightOracle
from baselines.policies import (
    RQ,
    SS,
    BaseStock,
    CappedBaseStock,
    ConstantOrder,
    EchelonBaseStock,
    Myopic,
)
from baselines.single_node import optimal_policy
from baselines.transfers import NoTransfers, Rebalance, WithTransfers
from envs.network import build_network
from envs.presets import load_env_config, make_network


@pytest.fixture(scope="module")
def single():
    """supplier -> store, lead time 2, Poisson(5), lost sales, h = 1, p = 9."""
    return build_network(single_node_config(holding_cost=1))


@pytest.fixture(scope="module")
def two_states(single):
    """Env 0: on-hand 7, 3 arriving next period (IP 10). Env 1: on-hand 2, nothing (IP 2)."""
    s = state_with(single, 2)
    s.on_hand[:, 1] = [7, 2]
    s.pipeline[0, 0, 0] = 3
    return s


def test_base_stock_orders_up_to_the_level(single, two_states):
    np.testing.assert_array_equal(BaseStock(single, levels=[15]).act(two_states), [[5], [13]])
    np.testing.assert_array_equal(BaseStock(single, levels=6).act(two_states), [[0], [4]])


def test_capped_base_stock_caps_the_order(single, two_states):
    policy = CappedBaseStock(single, levels=[15], caps=[8])
    np.testing.assert_array_equal(policy.act(two_states), [[5], [8]])


def test_s_S_orders_only_at_or_below_s(single, two_states):
    np.testing.assert_array_equal(
        SS(single, reorder_points=[10], order_up_to_levels=[18]).act(two_states), [[8], [16]]
    )
    np.testing.assert_array_equal(
        SS(single, reorder_points=[9], order_up_to_levels=[18]).act(two_states), [[0], [16]]
    )


def test_r_Q_orders_multiples_of_Q(single, two_states):
    # IP 10 < R = 14: ceil(4 / 3) = 2 batches; IP 2: ceil(12 / 3) = 4 batches.
    policy = RQ(single, reorder_points=[14], quantities=[3])
    np.testing.assert_array_equal(policy.act(two_states), [[6], [12]])
    np.testing.assert_array_equal(
        RQ(single, reorder_points=[10], quantities=[3]).act(two_states), [[0], [9]]
    )


def test_constant_order(single, two_states):
    np.testing.assert_array_equal(ConstantOrder(single, quantities=4).act(two_states), [[4], [4]])


def test_myopic_is_the_newsvendor_fractile_of_lead_time_demand(single, two_states):
    # L = 2: protection period of 3 periods, Poisson(15); fractile 9 / (9 + 1).
    level = stats.poisson(15).ppf(0.9)
    np.testing.assert_array_equal(Myopic(single).act(two_states), [[level - 10], [level - 2]])


def serial_network():
    return build_network(
        {
            "nodes": [
                supplier(),
                store("stage_3", demand=None, holding_cost=1),
                store("stage_2", demand=None, holding_cost=2),
                store("stage_1", unmet="backlog", penalty=19, holding_cost=3),
            ],
            "lanes": [
                lane("supplier", "stage_3", lead_time=2),
                lane("stage_3", "stage_2", lead_time=2),
                lane("stage_2", "stage_1", lead_time=2),
            ],
        }
    )


def test_echelon_base_stock_on_echelon_positions():
    net = serial_network()
    s = state_with(net, 1)
    s.on_hand[0] = [0, 5, 3, 2]
    s.backlog[0, 3] = 1
    s.pipeline[0, 0, 0] = 1  # supplier -> stage_3
    s.pipeline[0, 1, 0] = 4  # stage_3 -> stage_2
    s.pipeline[0, 2, 0] = 2  # stage_2 -> stage_1
    # Echelon positions: stage 1: 2 + 2 - 1 = 3; stage 2: 3 + 4 + 3 = 10; stage 3: 5 + 1 + 10.
    policy = EchelonBaseStock(net, levels=[20, 12, 5])  # node order: stage_3, stage_2, stage_1
    np.testing.assert_array_equal(policy.act(s), [[4, 2, 2]])


def test_echelon_base_stock_matches_chen_zheng_cost():
    net = make_network(load_env_config("serial"))
    exact = analytic.serial_echelon_base_stock(net.demand.pmf(0), [2, 2, 2], [3.0, 2.0, 1.0], 19.0)
    levels = exact.echelon_levels[::-1]  # stage 3, 2, 1 = network node order
    result = evaluate(net, EchelonBaseStock(net, levels=levels), 64, 1200, 200, seed=3)
    assert abs(result.cost_mean - exact.cost) < 3 * result.cost_ci95


def test_echelon_on_a_non_serial_network_raises():
    net = make_network(load_env_config("owmr"))
    with pytest.raises(ValueError, match="echelon base-stock needs a serial network, got"):
        EchelonBaseStock(net, levels=10)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda n: BaseStock(n, levels=[-1]), "levels: must be >= 0"),
        (lambda n: BaseStock(n, levels=[3, 4]), "levels: expected a scalar or one value"),
        (lambda n: BaseStock(n, levels=None), "levels: required"),
        (lambda n: BaseStock(n, levels=[float("nan")]), "levels: must be finite"),
        (lambda n: SS(n, reorder_points=[9], order_up_to_levels=[5]), "s must be <= S"),
        (lambda n: RQ(n, reorder_points=[9], quantities=[0]), "quantities: must be >= 1"),
        (lambda n: CappedBaseStock(n, levels=[9], caps=[-2]), "caps: must be >= 0"),
        (lambda n: ConstantOrder(n, quantities="many"), "quantities: expected numbers"),
    ],
)
def test_bad_parameters_raise(single, make, match):
    with pytest.raises(ValueError, match=match):
        make(single)


def test_optimal_off_a_single_node_raises():
    with pytest.raises(ValueError, match="optimal: value iteration needs a single-node"):
        optimal_policy(make_network(load_env_config("owmr")))


def two_stores():
    """supplier -> a, b (lead time 1); transfers a <-> b; Poisson(5) at both."""
    return build_network(
        {
            "nodes": [supplier(), store("a"), store("b")],
            "lanes": [lane("supplier", "a", lead_time=1), lane("supplier", "b", lead_time=1)],
            "transfer_lanes": [lane("a", "b"), lane("b", "a")],
        }
    )


def test_rebalance_moves_surplus_to_short_neighbours():
    net = two_stores()
    s = state_with(net, 2)
    s.on_hand[0] = [0, 30, 3]  # a: 6 days of supply, b: 0.6
    s.on_hand[1] = [0, 12, 3]  # a: 2.4 days, below high_days: nothing to give
    rule = Rebalance(net, low_days=2, high_days=4)
    # b needs 2 * 5 - 3 = 7; a can give 30 - 4 * 5 = 10 -> 7 on a -> b.
    np.testing.assert_array_equal(rule.act(s), [[0, 0, 7, 0], [0, 0, 0, 0]])
    both = WithTransfers(BaseStock(net, levels=[20, 20]), rule).act(s)
    np.testing.assert_array_equal(both, [[0, 17, 7, 0], [8, 17, 0, 0]])
    np.testing.assert_array_equal(NoTransfers(net).act(s), np.zeros((2, 4)))


def test_rebalance_thresholds_are_checked():
    with pytest.raises(ValueError, match="high_days: must be >= low_days"):
        Rebalance(two_stores(), low_days=3, high_days=1)
    with pytest.raises(ValueError, match="low_days: must be a finite number >= 0"):
        Rebalance(two_stores(), low_days=-1, high_days=1)


def test_oracle_orders_the_demand_due_at_arrival(single):
    # It reads ahead in the run's noise: the demand of t + L is what it orders at t.
    from baselines.rollout import StreamNoise
    from envs.noise import NoiseStream

    oracle = HindsightOracle(single)
    noise = StreamNoise(NoiseStream(single, 3, 11))
    oracle.reset(single, 3, noise)
    demand = np.stack([n.demand[:, 0] for n in NoiseStream(single, 3, 11).path(4)], axis=1)
    s = state_with(single, 3)  # empty: the order must cover periods 0..2
    np.testing.assert_array_equal(oracle.act(s)[:, 0], demand[:, :3].sum(1))
    # The simulation then plays the very draws the oracle read.
    np.testing.assert_array_equal(noise.at(0, s).demand[:, 0], demand[:, 0])


def test_stream_noise_read_ahead_plays_the_streams_draws_in_order(single):
    """Reading ahead changes nothing the simulation plays: the same draws as the stream
    alone, period after period, with or without reads ahead."""
    from baselines.rollout import StreamNoise
    from envs.noise import NoiseStream

    alone = NoiseStream(single, 4, 7).path(12)
    noise = StreamNoise(NoiseStream(single, 4, 7))
    s = state_with(single, 4)
    played = []
    for t in range(12):
        if t % 3 == 1:
            ahead = noise.ahead(t, 5)
            np.testing.assert_array_equal(ahead[0].demand, alone[t].demand)
        s.period[:] = t
        played.append(noise.at(t, s))
    for t in range(12):
        np.testing.assert_array_equal(played[t].demand, alone[t].demand)
        np.testing.assert_array_equal(played[t].lead_time, alone[t].lead_time)
    with pytest.raises(ValueError, match="in the past"):
        noise.ahead(3, 2)


def test_oracle_needs_reset(single, two_states):
    with pytest.raises(ValueError, match="reset"):
        HindsightOracle(single).act(two_states)


def test_oracle_beats_tuned_base_stock_on_lost_sales():
    from baselines.tuning import TuneBudget, tune_policy

    net = make_network(load_env_config("lost_sales"))
    tuned = tune_policy(
        BaseStock,
        net,
        budget=TuneBudget(envs=32, periods=200, warmup=50, eval_envs=16, eval_periods=300),
    )
    policy = BaseStock(net, **tuned.params)
    base = evaluate(net, policy, 32, 400, 100, seed=5)
    oracle = evaluate(net, HindsightOracle(net), 32, 400, 100, seed=5)
    assert oracle.cost_mean < base.cost_mean - 3 * base.cost_ci95
    assert oracle.cost_mean == pytest.approx(0.0)  # perfect information, fixed lead time


def test_optimal_auto_agrees_with_what_value_iteration_solves():
    """optimal: auto adds the optimum only where value iteration accepts the model; a
    stochastic lead time (one stocking node, one lane) is not one of them."""
    from baselines.references import OPTIMAL, reference_names
    from envs.presets import load_env_config, make_network

    plain = make_network(load_env_config("lost_sales"))
    assert OPTIMAL in [b.name for b in reference_names(["base_stock"], plain, "auto")]
    stochastic = make_network(
        load_env_config(
            "lost_sales",
            ["env.network.lanes.0.lead_time={support: [1, 2, 3], probs: [0.2, 0.5, 0.3]}"],
        )
    )
    assert [b.name for b in reference_names(["base_stock"], stochastic, "auto")] == ["base_stock"]


def test_every_policy_implements_the_one_interface():
    """Every baseline, exact and learned policy is a ``Policy``: act, reset and describe,
    with nothing found by probing; describe() is JSON-ready."""
    import inspect
    import json

    import agents.hdpo_policy
    import agents.policy
    import baselines.oracle
    import baselines.policies
    import baselines.seasonal
    import baselines.transfers
    import baselines.value_iteration
    from baselines.policy_base import Policy

    modules = [
        agents.hdpo_policy,
        agents.policy,
        baselines.oracle,
        baselines.policies,
        baselines.seasonal,
        baselines.transfers,
        baselines.value_iteration,
    ]
    classes = [
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and hasattr(cls, "act")
    ]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, Policy), cls
        assert not inspect.isabstract(cls) or cls is baselines.policies.NodePolicy, cls

    from baselines.registry import make_policy
    from envs.presets import load_env_config, make_network

    net = make_network(load_env_config("owmr_transship"))
    from baselines.registry import policy_config

    configs = [policy_config("base_stock", transfers="rebalance")]
    names = ("s_S", "r_Q", "myopic", "constant", "oracle", "seasonal_base_stock")
    configs += [policy_config(name) for name in names]
    for cfg in configs:
        policy, params = make_policy(cfg, net, tune=False)
        assert isinstance(policy, Policy)
        json.dumps(policy.describe())
