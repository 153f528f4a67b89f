"""agent.model.action_head=s_S: the (s, S) head of HDPO (agents/hdpo_reorder.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import lane, store, supplier
from numpy.testing import assert_array_equal
from test_hdpo import TINY, compose_train

import agents.hdpo
from agents.hdpo import (
    Rollout,
    _stack_noise,
    kept_outputs,
    load_hdpo_policy,
    load_policy_network,
    save_policy,
    settings_of,
    train_hdpo,
)
from agents.hdpo_policy import HDPOPolicy, TorchActionMap, build_network_policy, start_from
from agents.hdpo_reorder import ReorderPoints, reorder_points_of, s_S_prior
from baselines.evaluation import evaluate
from baselines.policies import SS
from envs.actions import ActionMap
from envs.network import build_network
from envs.noise import NoiseStream
from envs.presets import load_env_config, make_network
from envs.torch_transition import noise_to_torch, state_to_torch, torch_transition
from envs.transition import initial_state, transition

# supplier -> dc -> two stores; every replenishment lane has a fixed cost, one lane per node,
# so the (s, S) baseline (one primary lane per node) and the head drive the same lanes.
TREE = {
    "nodes": [
        supplier(),
        store("dc", demand=None, holding_cost=0.3, initial_on_hand=30),
        store("a", unmet="backlog", initial_on_hand=8),
        store("b", initial_on_hand=8),
    ],
    "lanes": [
        lane("supplier", "dc", lead_time=3, fixed_cost=20, unit_cost=0.0),
        lane("dc", "a", lead_time=1, fixed_cost=4),
        lane("dc", "b", lead_time=2, fixed_cost=4),
    ],
}
S = np.array([60.0, 14.0, 17.0])
s = np.array([40.0, 9.0, 11.0])


class ConstantHead(torch.nn.Module):
    """A 'network' returning the same output in every state (fixed s and S)."""

    def __init__(self, output: np.ndarray, reorder: ReorderPoints):
        super().__init__()
        self.reorder = reorder
        self.output = torch.nn.Parameter(torch.as_tensor(output, dtype=torch.float64))

    def forward(self, state):
        return self.output * torch.ones(state.num_envs, 1, dtype=self.output.dtype)


def constant_head(net) -> ConstantHead:
    """Output encoding S exactly (after the action map's rounding) and s + 0.5: with whole
    positions, position <= s + 0.5 is position <= s."""
    reorder = ReorderPoints(net, width=2.0)
    level = 2 * S / ActionMap(net, "order_up_to").max_target - 1
    return ConstantHead(np.concatenate([level, (s + 0.5) / S]), reorder)


def visited_states(net, b=5, periods=30):
    rng = np.random.default_rng(3)
    stream = NoiseStream(net, b, seed=2)
    state = initial_state(net, b)
    for _ in range(periods):
        yield state
        action = rng.integers(0, 25, (b, net.num_lanes)).astype(float)
        state, _, _ = transition(net, state, action, stream.draw(state.period))


def test_hard_trigger_at_evaluation_is_the_s_S_rule():
    net = build_network(TREE)
    head = constant_head(net)
    policy = HDPOPolicy(head, net)
    baseline = SS(net, reorder_points=s, order_up_to_levels=S)
    torch_map = TorchActionMap(policy.actions, head.reorder)
    ordered = 0
    for state in visited_states(net):
        expected = baseline.act(state)
        assert_array_equal(policy.act(state), expected)
        ordered += int((expected > 0).sum())
        # The torch map agrees: exact trigger forward in training (straight-through) and in
        # pure evaluation.
        ts = state_to_torch(state, torch.float64, "cpu")
        for straight_through in (True, False):
            got = torch_map(head(ts), ts, straight_through)
            assert_array_equal(got.detach().numpy(), expected)
    assert ordered > 10  # the states visited trigger orders and skip them


def test_soft_trigger_carries_a_gradient_into_the_fixed_cost():
    net = build_network(TREE)
    head = constant_head(net)
    torch_map = TorchActionMap(ActionMap(net, "order_up_to"), head.reorder)
    # dc position 41 (one above s = 40): the exact trigger is off, the logistic is not.
    state = state_to_torch(initial_state(net, 1), torch.float64, "cpu")
    state.on_hand[:, 1] = 41.0
    quantity, gate = torch_map.with_gate(head(state), state)
    assert (
        float(quantity[0, 0].detach()) == 0.0 and float(gate[0, 0].detach()) == 0.0
    )  # forward: exact
    stream = NoiseStream(net, 1, seed=0)
    noise = noise_to_torch(stream.draw(np.zeros(1, dtype=int)), torch.float64, "cpu")
    _, costs, _ = torch_transition(net, state, quantity, noise, fixed_cost_gate=gate)
    # The supplier lane has no unit cost: its ordering cost is the fixed cost alone.
    costs.ordering.sum().backward()
    grad = float(head.output.grad[3])  # d ordering cost / d reorder fraction of lane 0
    # K * d sigmoid((f S - position) / w) / df, at f S = 40.5, position 41, w = 2.
    z = torch.sigmoid(torch.tensor((40.5 - 41.0) / 2.0, dtype=torch.float64))
    assert grad == pytest.approx(20.0 * float(z * (1 - z)) * 60.0 / 2.0, rel=1e-9)
    assert grad > 0  # raising s would pay the fixed cost more often
    # Without the gate the fixed cost has no gradient in the reorder point.
    head.output.grad = None
    quantity, _ = torch_map.with_gate(head(state), state)
    _, costs, _ = torch_transition(net, state, quantity, noise)
    costs.ordering.sum().backward()
    assert float(head.output.grad[3]) == 0.0


def test_the_trigger_relaxation_gives_the_position_no_gradient():
    # The logistic differentiates the trigger in the reorder point only. Its slope in the
    # position would compound through the dynamics (on network it made the pathwise gradient
    # of the regions' levels up to 4,500 times the finite difference of the same loss).
    net = build_network(TREE)
    head = constant_head(net)
    torch_map = TorchActionMap(ActionMap(net, "order_up_to"), head.reorder)
    state = state_to_torch(initial_state(net, 1), torch.float64, "cpu")
    state.on_hand[:, 1] = 41.0  # one above s = 40: the logistic's slope is large here
    state.on_hand.requires_grad_(True)
    _, gate = torch_map.with_gate(head(state), state)
    (by_stock, by_output) = torch.autograd.grad(
        gate[0, 0], [state.on_hand, head.output], allow_unused=True
    )
    assert by_stock is None or float(by_stock[0, 1]) == 0.0
    assert float(by_output[3]) > 0.0  # the reorder fraction of lane 0 still learns


def test_soft_trigger_orders_a_fraction_in_training():
    net = build_network(TREE)
    head = constant_head(net)
    reorder = ReorderPoints(net, width=2.0, trigger="soft")
    torch_map = TorchActionMap(ActionMap(net, "order_up_to"), reorder)
    state = state_to_torch(initial_state(net, 1), torch.float64, "cpu")
    state.on_hand[:, 1] = 41.0
    quantity, gate = torch_map.with_gate(head(state), state)
    z = float(torch.sigmoid(torch.tensor(-0.25)))
    assert float(gate[0, 0].detach()) == pytest.approx(z)
    assert float(quantity[0, 0].detach()) == pytest.approx(z * (60 - 41))


def test_s_S_head_networks_on_the_network_preset():
    net = make_network(load_env_config("network"))
    reorder = reorder_points_of(net, {"action_head": "s_S"})
    assert_array_equal(reorder.lanes, np.flatnonzero(net.fixed_cost > 0))  # the 4 upstream
    state = initial_state(net, 3)
    for arch in ("mlp", "per_node"):
        model = build_network_policy(
            net, {"architecture": arch, "hidden": [8], "action_head": "s_S"}
        )
        out = HDPOPolicy(model, net).predict(state)
        assert out.shape == (3, net.num_lanes + 4)
        assert np.all((out[:, net.num_lanes :] > 0) & (out[:, net.num_lanes :] < 1))
        quantity = HDPOPolicy(model, net).act(state)
        assert quantity.shape == (3, net.num_lanes) and np.all(quantity >= 0)


def test_bad_head_settings_name_the_field():
    net = make_network(load_env_config("network"))
    with pytest.raises(ValueError, match="agent.model.action_head"):
        reorder_points_of(net, {"action_head": "sS"})
    with pytest.raises(ValueError, match="agent.model.trigger_width"):
        reorder_points_of(net, {"action_head": "s_S", "trigger_width": 0})
    with pytest.raises(ValueError, match="agent.model.trigger"):
        reorder_points_of(net, {"action_head": "s_S", "trigger": "hard"})
    with pytest.raises(ValueError, match="agent.model.action_head"):  # no fixed cost there
        reorder_points_of(make_network(load_env_config("owmr_transship")), {"action_head": "s_S"})
    with pytest.raises(ValueError, match="agent.model.action_head"):
        TorchActionMap(ActionMap(net, "quantity"), reorder_points_of(net, {"action_head": "s_S"}))


@pytest.mark.parametrize("arch", ["mlp", "per_node"])
def test_warm_start_acts_as_the_s_S_policy_and_is_saved(tmp_path, arch):
    net = build_network(TREE)
    settings = {"architecture": arch, "hidden": [8], "action_head": "s_S", "warm_start": "s_S"}
    model = build_network_policy(net, settings)
    baseline = SS(net, reorder_points=s, order_up_to_levels=S)
    start_from(model, s_S_prior(net, ActionMap(net, "order_up_to"), model.reorder, baseline))
    save_policy(model, settings, {}, tmp_path)
    loaded, _, _ = load_policy_network(net, tmp_path)
    for state in visited_states(net):
        expected = baseline.act(state)
        assert_array_equal(HDPOPolicy(model, net).act(state), expected)
        assert_array_equal(HDPOPolicy(loaded, net).act(state), expected)
    with pytest.raises(ValueError, match="agent.model.warm_start"):
        build_network_policy(net, {**settings, "warm_start": "base_stock"})


@pytest.mark.slow  # about 25 s: tunes (s,S), then trains
def test_training_with_the_s_S_head_from_a_warm_start(tmp_path):
    cfg = compose_train(
        "env=network",
        "agent=hdpo",
        *TINY,
        "agent.model.action_head=s_S",
        "agent.model.warm_start=s_S",
        "train.tune.envs=8",
        "train.tune.periods=40",
        "train.tune.warmup=10",
        "train.tune.eval_envs=8",
        "train.tune.eval_periods=40",
        "train.tune.eval_warmup=10",
        "train.tune.max_iterations=1",
    )
    net = make_network(cfg.env)
    trained = train_hdpo(net, cfg.env, cfg.agent, cfg.train, 0, tmp_path)
    # The warm start is evaluated first; the kept policy is the best of it and the steps.
    assert [h["step"] for h in trained.history] == [0, 2, 4]
    best = min(h["cost_mean"] for h in trained.history)
    e = cfg.train.eval
    policy = load_hdpo_policy(net, tmp_path / "best", "order_up_to")
    again = evaluate(net, policy, int(e.envs), int(e.periods), int(e.warmup), int(e.seed))
    assert again.cost_mean == pytest.approx(best)
    assert policy.describe()["action_head"] == "s_S"


TUNED_S = [72, 65, 58, 16, 35, 32, 19]  # (s, S) on network as the benchmark's tuning finds it
TUNED_LEVELS = [115, 101, 85, 17, 36, 33, 21]


def test_keep_warm_start_trains_only_the_lanes_without_a_fixed_cost(tmp_path, monkeypatch):
    # network's pair defaults (conf/env_agent/network_hdpo.yaml): the (s, S) head from the
    # tuned (s, S) policy, kept on the lanes with a fixed cost. The tuning is replaced by
    # its known result to keep the test short.
    cfg = compose_train(
        "env=network",
        "agent=hdpo",
        *TINY,
        "agent.model.architecture=mlp",
        "agent.model.learning_rate=0.01",
    )
    model_cfg = cfg.agent.model
    assert (model_cfg.action_head, model_cfg.warm_start) == ("s_S", "s_S")
    assert model_cfg.keep_warm_start == "fixed_cost_lanes"
    net = make_network(cfg.env)
    tuned = SS(net, TUNED_S, TUNED_LEVELS)

    def prior(net, mode, reorder, _):
        return s_S_prior(net, ActionMap(net, mode), reorder, tuned)

    monkeypatch.setattr(agents.hdpo, "warm_start_prior", prior)
    train_hdpo(net, cfg.env, cfg.agent, cfg.train, 0, tmp_path)
    model, settings, _ = load_policy_network(net, tmp_path / "final")
    layer = model.output_layers()[0]  # the MLP's: one row per output
    rows = torch.cat([layer.weight, layer.bias[:, None]], dim=1).detach().numpy()
    kept = kept_outputs(net, reorder_points_of(net, settings))
    assert kept.sum() == 4 + 4  # the four upstream lanes and their reorder fractions
    assert np.all(rows[kept] == 0.0)  # still the warm start: tuned (s, S) there
    assert np.any(rows[~kept] != 0.0)  # the regions' orders and the transfers learned
    for state in visited_states(net, b=3, periods=5):
        upstream = np.flatnonzero(net.fixed_cost > 0)
        assert_array_equal(
            HDPOPolicy(model, net).act(state)[:, upstream], tuned.act(state)[:, upstream]
        )


def test_keep_warm_start_is_checked():
    cfg = compose_train("env=network", "agent=hdpo", "agent.model.warm_start=null")
    with pytest.raises(ValueError, match="agent.model.keep_warm_start: .*warm_start is null"):
        settings_of(cfg.agent)
    cfg = compose_train("env=network", "agent=hdpo", "agent.model.keep_warm_start=upstream")
    with pytest.raises(ValueError, match="agent.model.keep_warm_start: one of"):
        settings_of(cfg.agent)


def test_pathwise_gradients_agree_with_finite_differences_on_network():
    # At the warm start (tuned (s, S)), per unit of each region's order-up-to target: the
    # pathwise gradient of the training loss against the central difference of the same
    # loss in whole units, on the same 256 scenarios x 100 periods. With the trigger's
    # slope in the position they were -1.05 against -0.14, -0.89 against +0.01, +290
    # against +0.06 and +5.1 against +0.16; now they differ by 0.04 at most.
    net = make_network(load_env_config("network"))
    settings = {"architecture": "mlp", "hidden": [8], "action_head": "s_S", "warm_start": "s_S"}
    reorder = reorder_points_of(net, settings)
    actions = ActionMap(net, "order_up_to")
    prior = s_S_prior(net, actions, reorder, SS(net, TUNED_S, TUNED_LEVELS))
    model = build_network_policy(net, settings).double()
    start_from(model, prior)
    del model._buffers["prior"]  # the offsets as the variable to differentiate
    model.prior = torch.nn.Parameter(torch.as_tensor(prior, dtype=torch.float64))
    rollout = Rollout(net, "order_up_to", torch.float64, "cpu", None, reorder)
    noise = _stack_noise(NoiseStream(net, 256, seed=777).path(100), torch.float64, "cpu")
    loss, _ = rollout.run(model, noise, 30)
    loss.backward()

    def loss_at(lane: int, target: float) -> float:
        unit = np.clip(target / actions.scale[lane], 0, 1)
        shifted = prior.copy()
        shifted[lane] = np.arctanh(np.clip(2 * unit - 1, -1 + 1e-3, 1 - 1e-3))
        with torch.no_grad():
            model.prior.copy_(torch.as_tensor(shifted))
            return float(rollout.run(model, noise, 30)[0])

    for name in ("plant_1->region_1", "plant_1->region_2", "plant_2->region_3", "dc_3->region_4"):
        lane = list(net.lane_names).index(name)
        raw = prior[lane]
        target = np.rint((np.tanh(raw) + 1) / 2 * actions.scale[lane])
        pathwise = float(model.prior.grad[lane]) / (
            actions.scale[lane] / 2 * (1 - np.tanh(raw) ** 2)
        )
        central = (loss_at(lane, target + 1) - loss_at(lane, target - 1)) / 2
        assert abs(pathwise - central) < 0.1, (name, pathwise, central)


def test_a_bad_hdpo_setting_fails_before_the_baselines_are_tuned(tmp_path, monkeypatch):
    import experiments.train as train_entry

    def no_tuning(*args, **kwargs):
        raise AssertionError("tuned the baselines before checking the HDPO settings")

    monkeypatch.setattr(train_entry, "make_references", no_tuning)
    cfg = compose_train("env=network", "agent=hdpo", "agent.model.keep_warm_start=upstream")
    with pytest.raises(ValueError, match="agent.model.keep_warm_start"):
        train_entry.run(cfg, tmp_path)
    cfg = compose_train("env=network", "agent=hdpo", "agent.model.action_head=sS")
    with pytest.raises(ValueError, match="agent.model.action_head"):
        train_entry.run(cfg, tmp_path)
