"""agent=hdpo: the torch views of observation and action map, training, checkpoints, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from numpy.testing import assert_allclose, assert_array_equal

from agents.hdpo import is_hdpo, load_hdpo_policy, train_hdpo
from agents.hdpo_policy import (
    HDPOPolicy,
    TorchActionMap,
    TorchObservation,
    build_network_policy,
    node_kinds,
)
from baselines.evaluation import evaluate
from envs.actions import ActionMap
from envs.noise import NoiseStream
from envs.observations import ObservationLayout
from envs.presets import CONF_DIR, load_env_config, make_network
from envs.torch_transition import state_to_torch
from envs.transition import initial_state, transition

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "agent.num_envs=4",
    "agent.model.steps=4",
    "agent.model.horizon=12",
    "agent.model.warmup=2",
    "agent.model.eval_every=2",
    "agent.model.checkpoint_every=2",
    "agent.model.hidden=[8]",
    "train.eval.envs=4",
    "train.eval.periods=40",
    "train.eval.warmup=5",
]


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def _visited_states(net, b: int = 6, periods: int = 25):
    """States along a random-action trajectory (stock, pipeline and backlog all nonzero)."""
    rng = np.random.default_rng(0)
    stream = NoiseStream(net, b, seed=1)
    state = initial_state(net, b)
    out = []
    for _ in range(periods):
        action = rng.uniform(0, 1, (b, net.num_lanes)) * net.max_order
        state, _, _ = transition(net, state, action, stream.draw(state.period))
        out.append(state)
    return out


@pytest.mark.parametrize("preset", ["lost_sales", "owmr_transship", "network"])
def test_torch_observation_equals_the_env_observation(preset):
    net = make_network(load_env_config(preset))
    layout, obs = ObservationLayout(net), TorchObservation(net)
    for state in _visited_states(net):
        got = obs(state_to_torch(state, torch.float64, "cpu")).numpy()
        assert_allclose(got, layout.build(state), rtol=1e-6)


@pytest.mark.parametrize("preset", ["lost_sales", "owmr_transship", "network"])
@pytest.mark.parametrize("mode", ["order_up_to", "quantity"])
def test_torch_action_map_equals_the_env_action_map(preset, mode):
    net = make_network(load_env_config(preset))
    actions = ActionMap(net, mode)
    torch_map = TorchActionMap(actions)
    rng = np.random.default_rng(2)
    for state in _visited_states(net):
        a = rng.uniform(-1.2, 1.2, (state.num_envs, net.num_lanes))
        got = torch_map(torch.as_tensor(a), state_to_torch(state, torch.float64, "cpu"))
        assert_array_equal(got.numpy(), actions.to_quantities(a, state))


def test_action_map_rejects_modes_hdpo_cannot_differentiate():
    net = make_network(load_env_config("lost_sales"))
    with pytest.raises(ValueError, match="env.action_mode"):
        TorchActionMap(ActionMap(net, "discrete"))


def test_per_node_network_shares_weights_across_nodes_of_a_kind():
    net = make_network(load_env_config("owmr_transship"))
    kinds = node_kinds(net)
    assert sorted(len(nodes) for nodes in kinds.values()) == [1, 4]  # warehouse, 4 retailers
    model = build_network_policy(net, {"architecture": "per_node", "hidden": [16]})
    assert len(model.node_nets) == 2
    state = state_to_torch(_visited_states(net)[-1], torch.float32, "cpu")
    action = model(state)
    assert action.shape == (6, net.num_lanes)
    assert bool(((action >= -1) & (action <= 1)).all())
    # Permuting two retailers' states permutes their targets: one network serves both.
    r1, r2 = net.node_index("retailer_1"), net.node_index("retailer_2")
    lane = {net.lane_destination[e]: e for e in np.flatnonzero(~net.is_transfer)}
    swapped = state_to_torch(_visited_states(net)[-1], torch.float32, "cpu")
    for f in ("on_hand", "backlog"):
        x = getattr(swapped, f)
        x[:, [r1, r2]] = x[:, [r2, r1]]
    p = swapped.pipeline
    p[:, [lane[r1], lane[r2]]] = p[:, [lane[r2], lane[r1]]]
    d1, d2 = (list(net.demand_nodes).index(r) for r in (r1, r2))
    swapped.last_demand[:, [d1, d2]] = swapped.last_demand[:, [d2, d1]]
    # The context sees the whole (permuted) observation and the retailers' mean demands
    # differ, so check the shared part: with a zero context network and equal static
    # features, swapping two retailers' states swaps their actions exactly.
    stock = list(net.stock_nodes)
    with torch.no_grad():
        model.static[stock.index(r1)] = model.static[stock.index(r2)]
        for param in model.context_net.parameters():
            param.zero_()
    a, b = model(state), model(swapped)
    assert torch.allclose(a[:, lane[r1]], b[:, lane[r2]], atol=1e-6)


def test_unknown_architecture_is_rejected():
    net = make_network(load_env_config("lost_sales"))
    with pytest.raises(ValueError, match="agent.model.architecture"):
        build_network_policy(net, {"architecture": "transformer"})


@pytest.mark.parametrize("arch", ["mlp", "per_node"])
def test_training_keeps_the_best_policy_and_resumes(tmp_path, arch):
    cfg = compose_train(
        "env=owmr_transship", "agent=hdpo", *TINY, f"agent.model.architecture={arch}"
    )
    assert is_hdpo(cfg.agent)
    net = make_network(cfg.env)
    trained = train_hdpo(net, cfg.env, cfg.agent, cfg.train, 0, tmp_path, {"base_stock": 50.0})
    assert [h["step"] for h in trained.history] == [2, 4]
    best = min(h["cost_mean"] for h in trained.history)
    for d in ("best", "final", "checkpoints/last", "checkpoints/step_0000002"):
        assert (tmp_path / d / "policy.pt").is_file() and (tmp_path / d / "hdpo.json").is_file()
    # The best policy (weights only) is the one that scored `best` on the evaluation noise.
    policy = load_hdpo_policy(net, tmp_path / "best", "order_up_to")
    e = cfg.train.eval
    again = evaluate(net, policy, int(e.envs), int(e.periods), int(e.warmup), int(e.seed))
    assert again.cost_mean == pytest.approx(best)
    assert trained.policy.act(initial_state(net, 3)).shape == (3, net.num_lanes)
    # Resume from step 2 to 4 reproduces the uninterrupted run.
    resumed = compose_train(
        "env=owmr_transship",
        "agent=hdpo",
        *TINY,
        f"agent.model.architecture={arch}",
        f"train.resume={tmp_path / 'checkpoints' / 'step_0000002'}",
    )
    run2 = train_hdpo(net, resumed.env, resumed.agent, resumed.train, 0, tmp_path / "r", {})
    assert run2.history[-1]["step"] == 4
    assert run2.history[-1]["cost_mean"] == pytest.approx(trained.history[-1]["cost_mean"])


def test_bad_settings_name_the_field(tmp_path):
    cfg = compose_train("env=lost_sales", "agent=hdpo", *TINY, "agent.model.warmup=12")
    with pytest.raises(ValueError, match="agent.model.warmup"):
        train_hdpo(make_network(cfg.env), cfg.env, cfg.agent, cfg.train, 0, tmp_path)
    cfg = compose_train("env=lost_sales", "agent=hdpo", *TINY, f"train.resume={tmp_path}")
    with pytest.raises(ValueError, match="train.resume"):
        train_hdpo(make_network(cfg.env), cfg.env, cfg.agent, cfg.train, 0, tmp_path)


def test_policy_files_hold_tensors_only(tmp_path):
    cfg = compose_train("env=lost_sales", "agent=hdpo", *TINY)
    train_hdpo(make_network(cfg.env), cfg.env, cfg.agent, cfg.train, 0, tmp_path)
    for name in ("policy.pt", "optimizer.pt"):
        torch.load(tmp_path / "checkpoints" / "last" / name, weights_only=True)
    meta = json.loads((tmp_path / "best" / "hdpo.json").read_text())
    assert meta["settings"]["architecture"] == "per_node"


def test_hdpo_policy_is_evaluated_like_any_policy():
    net = make_network(load_env_config("network"))
    model = build_network_policy(net, {"architecture": "per_node", "hidden": [8]})
    result = evaluate(net, HDPOPolicy(model, net), num_envs=3, periods=30, warmup=5)
    assert np.isfinite(result.cost_mean)


def test_train_entry_point_with_hdpo_prints_json_last(tmp_path):
    args = [
        "env=lost_sales",
        "agent=hdpo",
        *TINY,
        "train.baselines=[]",
        "train.final_eval.envs=4",
        "train.final_eval.periods=60",
        "train.final_eval.warmup=10",
        f"hydra.run.dir={tmp_path}",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "experiments.train", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["agent"] == "hdpo"
    assert "cost_mean" in line and "gap_to_optimum_pct" in line
    tags = set()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for f in (tmp_path / "tb").glob("events*"):
        acc = EventAccumulator(str(f))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    for tag in (
        "eval/cost_mean",
        "eval/best_cost_mean",
        "cost/total",
        "cost/lost_sales",
        "service/fill_rate/store",
        "inventory/mean_on_hand/store",
        "baseline/optimal",
    ):
        assert tag in tags, tag

    # the run is evaluated again like an SB3 one (policy=agent, AgentPolicy.from_run)
    from agents.runs import load_run_policy

    for checkpoint in ("best", "last"):
        policy, run = load_run_policy(tmp_path, checkpoint)
        assert isinstance(policy, HDPOPolicy) and run.net.node_names == ("supplier", "store")
