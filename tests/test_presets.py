"""Every preset builds, resets and steps through every front end; preset knobs reach the
built network."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import envs  # noqa: F401  (registers the invnet/ ids)
from envs.inventory_env import InventoryNetworkVecEnv
from envs.presets import PRESETS, load_env_config, make_network, make_sb3_vec_env

IDS = sorted(PRESETS)


@pytest.mark.parametrize("preset_id", IDS)
def test_preset_resets_and_steps_single_and_vector(preset_id):
    env = gymnasium.make(f"invnet/{preset_id}-v0", episode_length=3)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.action_space.seed(0)
    for t in range(4):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward) and reward <= 0
        assert reward == pytest.approx(-info["cost/total"], rel=1e-6)
        assert not terminated and truncated == (t == 2)
        if truncated:
            obs, _ = env.reset()
    vec = gymnasium.make_vec(
        f"invnet/{preset_id}-v0", num_envs=3, vectorization_mode="vector_entry_point"
    )
    assert isinstance(vec, InventoryNetworkVecEnv) and vec.num_envs == 3
    obs, _ = vec.reset(seed=1)
    assert obs.shape == (3, *env.observation_space.shape)
    vec.action_space.seed(1)
    for _ in range(3):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert obs.shape[0] == reward.shape[0] == 3
        assert np.isfinite(reward).all()
        assert info["cost/total"].shape == (3,)
    sb3 = make_sb3_vec_env(PRESETS[preset_id], num_envs=2)
    assert sb3.reset().shape == (2, *env.observation_space.shape)
    sb3_obs, rewards, dones, infos = sb3.step(np.stack([env.action_space.sample()] * 2))
    assert rewards.shape == (2,) and len(infos) == 2
    env.close()
    vec.close()


def _store(net):
    return net.node_index("store")


@pytest.mark.parametrize("preset", ["lost_sales", "backlog"])
def test_single_node_preset_defaults(preset):
    net = make_network(load_env_config(preset))
    s = _store(net)
    assert net.node_names == ("supplier", "store")
    assert net.is_backlog[0] == (preset == "backlog")
    assert net.penalty[0] == 9 and net.holding_cost[s] == 1
    assert net.lead_times[0].support == (2,)
    assert net.demand.mean_demand[0] == 5 and net.demand.specs[0].dist == "poisson"
    assert net.fixed_cost[0] == 0


@pytest.mark.parametrize("preset", ["lost_sales", "backlog"])
def test_single_node_preset_overrides_reach_the_network(preset):
    overrides = [
        "env.penalty=19",
        "env.lead_time=4",
        "env.demand_mean=7",
        "env.holding_cost=2",
        "env.fixed_cost=30",
    ]
    net = make_network(load_env_config(preset, overrides))
    s = _store(net)
    assert net.penalty[0] == 19
    assert net.lead_times[0].support == (4,) and net.max_lead_time == 4
    assert net.demand.mean_demand[0] == 7
    assert net.holding_cost[s] == 2
    assert net.fixed_cost[0] == 30
    assert net.is_backlog[0] == (preset == "backlog")
    # A random lead time as an override, and unmet switched.
    other = "lost" if preset == "backlog" else "backlog"
    random_lead = "env.lead_time={support:[1,3],probs:[0.25,0.75]}"
    net = make_network(load_env_config(preset, [random_lead, f"env.unmet={other}"]))
    assert net.lead_times[0].support == (1, 3) and net.lead_times[0].probs == (0.25, 0.75)
    assert net.is_backlog[0] == (other == "backlog")
    # Through gymnasium.make too.
    env = gymnasium.make(
        f"invnet/{'LostSales' if preset == 'lost_sales' else 'Backlog'}-v0", overrides=overrides
    )
    assert env.unwrapped.net.penalty[0] == 19
    assert env.unwrapped.net.lead_times[0].support == (4,)
    # on-hand, backlog (backlog preset), pipeline +1..+3 (lead time 4), last demand
    assert len(env.unwrapped.observation_names) == 1 + (preset == "backlog") + 3 + 1


def test_bad_override_value_is_rejected():
    with pytest.raises(ValueError, match="penalty"):
        make_network(load_env_config("lost_sales", ["env.penalty=-1"]))
    with pytest.raises(ValueError, match="lead_time"):
        make_network(load_env_config("lost_sales", ["env.lead_time=-2"]))


def test_owmr_transship_extends_owmr():
    owmr = make_network(load_env_config("owmr"))
    trans = make_network(load_env_config("owmr_transship", ["env.transfer_cost=1.5"]))
    assert trans.node_names == owmr.node_names
    assert trans.num_lanes == owmr.num_lanes + 12
    assert_array_equal(trans.is_transfer, [False] * 5 + [True] * 12)
    assert (trans.unit_cost[trans.is_transfer] == 1.5).all()
    assert all(trans.lead_times[e].support == (0, 1) for e in np.flatnonzero(trans.is_transfer))
    # owmr's penalty knob reaches every retailer.
    net = make_network(load_env_config("owmr", ["env.penalty=29"]))
    assert_array_equal(net.penalty, [29] * 4)


def test_serial_preset_lead_time_knob():
    net = make_network(load_env_config("serial", ["env.lead_time=1"]))
    assert [lt.support for lt in net.lead_times] == [(1,)] * 3
    assert net.is_backlog.all()


def test_custom_preset_reads_an_edge_list(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text(
        "nodes:\n"
        "  plant: {kind: supplier}\n"
        "  shop: {holding_cost: 2, demand: {dist: poisson, mean: 3}, unmet: lost, penalty: 4}\n"
        "edges:\n"
        "  - [plant, shop, {lead_time: 1}]\n"
    )
    net = make_network(load_env_config("custom", [f"env.edge_list={path}"]))
    assert net.node_names == ("plant", "shop") and net.holding_cost[1] == 2
    default = make_network(load_env_config("custom"))
    assert "dc" in default.node_names and default.is_transfer.sum() == 2
