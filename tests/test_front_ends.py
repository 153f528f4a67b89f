"""The Gymnasium and SB3 front ends: API checkers, same-step autoreset, vector/single
parity, batch-size independence, seeding, action modes and the observation layout."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from conftest import lane, state_with, store, supplier
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from numpy.testing import assert_array_equal
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs  # noqa: F401  (registers the invnet/ ids)
from envs.actions import ActionMap, max_target
from envs.inventory_env import InventoryNetworkEnv, InventoryNetworkVecEnv
from envs.network import build_network
from envs.observations import ObservationLayout
from envs.presets import PRESETS, load_env_config, make_network
from envs.sb3 import InventoryNetworkSB3VecEnv
from envs.simulator import Simulator, step_info


@pytest.fixture(scope="module")
def network_preset():
    return make_network(load_env_config("network"))


def rich_network():
    """Dual sourcing into s1, a transfer s1 -> s2, seasonal demand and a disruptable lane."""
    return build_network(
        {
            "nodes": [
                supplier("A"),
                supplier("B"),
                store("s1", holding_cost=1, penalty=9, initial_on_hand=4),
                store(
                    "s2",
                    unmet="backlog",
                    penalty=3,
                    demand={
                        "dist": "poisson",
                        "mean": 3,
                        "seasonality": {"period": 4, "amplitude": 0.5},
                    },
                ),
            ],
            "lanes": [
                lane("A", "s1", lead_time=2),
                lane("B", "s1", lead_time={"support": [1, 3]}),
                lane("A", "s2", lead_time=1, disruption={"failure_prob": 0.2}),
            ],
            "transfer_lanes": [lane("s1", "s2", lead_time=0)],
        }
    )


# ------------------------------------------------------------------------ API checkers


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_single_env_passes_gymnasium_and_sb3_checkers(preset_id):
    env = gymnasium.make(f"invnet/{preset_id}-v0").unwrapped
    assert isinstance(env, InventoryNetworkEnv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    # The only accepted complaint: the observation Box is unbounded above (stock levels).
    complaints = [str(w.message) for w in caught]
    complaints = [c for c in complaints if "maximum value is infinity" not in c]
    assert complaints == []


# --------------------------------------------------------------- vector env autoreset


def test_vector_env_resets_finished_envs_in_the_same_step():
    vec = InventoryNetworkVecEnv(rich_network(), num_envs=3, episode_length=3, seed=0)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs0, _ = vec.reset(seed=0)
    vec.sim.state.period[1] = 1  # env 1 is one period ahead: its episode ends first
    action = np.zeros((3, 4), dtype=np.float32)
    obs, reward, terminated, truncated, info = vec.step(action)
    assert not truncated.any() and "final_obs" not in info
    obs, reward, terminated, truncated, info = vec.step(action)
    assert_array_equal(truncated, [False, True, False])
    assert not terminated.any()
    assert_array_equal(info["_final_obs"], [False, True, False])
    assert info["final_obs"][0] is None and info["final_obs"][2] is None
    assert info["final_obs"][1].shape == obs0[1].shape
    assert not np.array_equal(info["final_obs"][1], obs0[1])  # the episode's last state
    assert_array_equal(obs[1], obs0[1])  # already reset: the initial observation
    assert vec.sim.state.period[1] == 0 and vec.sim.state.period[0] == 2
    final = info["final_info"]
    assert_array_equal(final["cost/total"], info["cost/total"])
    assert_array_equal(final["_cost/total"], [False, True, False])
    assert_array_equal(reward, -info["cost/total"])
    obs, reward, terminated, truncated, info = vec.step(action)
    assert_array_equal(truncated, [True, False, True])
    assert_array_equal(obs[[0, 2]], obs0[[0, 2]])


def test_sb3_adapter_terminal_observation_and_truncation():
    net = rich_network()
    venv = InventoryNetworkSB3VecEnv(net, num_envs=3, episode_length=2, seed=4)
    vec = InventoryNetworkVecEnv(net, num_envs=3, episode_length=2, seed=4)
    obs0 = venv.reset()
    assert_array_equal(obs0, vec.reset(seed=4)[0])
    rng = np.random.default_rng(0)
    for t in range(4):
        action = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(action)
        v_obs, v_reward, _, v_trunc, v_info = vec.step(action)
        assert rewards.dtype == np.float32
        assert_array_equal(rewards, v_reward.astype(np.float32))
        assert_array_equal(obs, v_obs)
        assert_array_equal(dones, v_trunc)
        assert_array_equal(venv.last_info["cost/total"], v_info["cost/total"])
        if t % 2 == 1:
            assert dones.all()
            for i, info in enumerate(infos):
                assert info["TimeLimit.truncated"] is True
                assert_array_equal(info["terminal_observation"], v_info["final_obs"][i])
            assert_array_equal(obs, obs0)
        else:
            assert not dones.any() and all(info == {} for info in infos)
    assert venv.get_attr("last_info")[0] is venv.last_info
    assert venv.env_is_wrapped(gymnasium.Wrapper) == [False] * 3


def test_sb3_reused_buffers_give_what_fresh_arrays_give(network_preset):
    # The SB3 VecEnv writes each step into one of two reused buffer sets: what it returns
    # (observations, rewards, dones, terminal observations) and last_info must equal a
    # Simulator's fresh arrays, step by step, through episode ends.
    venv = InventoryNetworkSB3VecEnv(network_preset, num_envs=5, episode_length=4, seed=3)
    venv.seed(3)
    ref = Simulator(network_preset, 5, episode_length=4, seed=3)
    assert_array_equal(venv.reset(), ref.layout.build(ref.state))
    space = venv.action_space
    space.seed(0)
    for t in range(13):
        action = np.stack([space.sample() for _ in range(5)])
        venv.step_async(action)
        obs, reward, done, infos = venv.step_wait()
        expected = ref.step(action)
        assert_array_equal(obs, expected.obs, err_msg=f"step {t}")
        assert_array_equal(reward, expected.reward.astype(np.float32), err_msg=f"step {t}")
        assert_array_equal(done, expected.truncated, err_msg=f"step {t}")
        for key, value in step_info(expected).items():
            assert_array_equal(venv.last_info[key], value, err_msg=f"step {t}: {key}")
        for i in np.flatnonzero(done):
            assert_array_equal(infos[i]["terminal_observation"], expected.final_obs[i])


def test_sb3_seed_makes_runs_repeatable():
    net = rich_network()

    def run(seed):
        venv = InventoryNetworkSB3VecEnv(net, num_envs=2, episode_length=5)
        venv.seed(seed)
        venv.reset()
        action = np.zeros((2, 4), dtype=np.float32)
        return np.array([venv.step(action)[1] for _ in range(8)])

    assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_sb3_vecmonitor_and_ppo_smoke():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    venv = VecMonitor(
        InventoryNetworkSB3VecEnv(build_network_lost_sales(), num_envs=4, episode_length=16, seed=0)
    )
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    # 256 steps of 4 envs with 16-period episodes: 16 finished episodes, each 16 long.
    assert len(model.ep_info_buffer) == 16
    assert all(ep["l"] == 16 and ep["r"] < 0 for ep in model.ep_info_buffer)
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (4, 1)


def build_network_lost_sales():
    return make_network(load_env_config("lost_sales"))


# ------------------------------------------------------ parity, batch size, seeding


def test_vector_and_single_env_give_identical_trajectories(network_preset):
    net, n, length, seed = network_preset, 3, 4, 7
    vec = InventoryNetworkVecEnv(net, num_envs=n, episode_length=length, seed=seed)
    singles = [
        InventoryNetworkEnv(net, episode_length=length, seed=seed, env_index=i) for i in range(n)
    ]
    v_obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        assert_array_equal(env.reset(seed=seed)[0], v_obs[i])
    rng = np.random.default_rng(1)
    for _ in range(2 * length + 2):  # through two episode ends
        action = rng.uniform(-1, 1, size=(n, net.num_lanes)).astype(np.float32)
        v_obs, v_rew, v_term, v_trunc, v_info = vec.step(action)
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step(action[i])
            # Quantities are whole units, exact in float32; costs are float32 sums whose
            # rounding depends on the BLAS kernel (a batch of 1 vs 3), so ~1e-7 relative.
            assert rew == pytest.approx(v_rew[i], rel=1e-6)
            assert term == v_term[i] and trunc == v_trunc[i]
            for key, value in info.items():
                if key.startswith("cost/"):
                    assert value == pytest.approx(v_info[key][i], rel=1e-6, abs=1e-6), key
                else:
                    assert_array_equal(value, v_info[key][i], err_msg=key)
            if trunc:
                assert_array_equal(obs, v_info["final_obs"][i])
                obs, _ = env.reset()
            assert_array_equal(obs, v_obs[i])


def test_batch_size_independence(network_preset):
    # Env i of a 4-env batch == env i of a 16-env batch, across a noise-block refill
    # (128 periods) and several autoresets.
    net = network_preset
    small = Simulator(net, num_envs=4, episode_length=50, action_mode="raw", seed=5)
    large = Simulator(net, num_envs=16, episode_length=50, action_mode="raw", seed=5)
    rng = np.random.default_rng(2)
    for _ in range(140):
        action = rng.integers(0, 20, size=(16, net.num_lanes)).astype(float)
        a, b = small.step(action[:4]), large.step(action)
        assert_array_equal(a.obs, b.obs[:4])
        assert_array_equal(a.reward, b.reward[:4])
        assert_array_equal(a.flows.demand, b.flows.demand[:4])
        assert_array_equal(a.flows.shipped, b.flows.shipped[:4])
    for name in ("on_hand", "backlog", "pipeline", "period"):
        assert_array_equal(getattr(small.state, name), getattr(large.state, name)[:4])


def test_seeding_determinism(network_preset):
    def rollout(seed):
        vec = InventoryNetworkVecEnv(network_preset, num_envs=2, episode_length=20)
        vec.reset(seed=seed)
        action = np.zeros((2, network_preset.num_lanes), dtype=np.float32)
        steps = [vec.step(action) for _ in range(10)]
        return np.array([s[1] for s in steps]), np.array([s[4]["demand"] for s in steps])

    r1, d1 = rollout(11)
    r2, d2 = rollout(11)
    r3, d3 = rollout(12)
    assert_array_equal(r1, r2)
    assert_array_equal(d1, d2)
    assert not np.array_equal(d1, d3)
    assert not np.array_equal(d1[:, 0], d1[:, 1])  # envs of one batch differ too
    # reset(seed=...) restarts the streams: a second reset with the same seed replays.
    vec = InventoryNetworkVecEnv(network_preset, num_envs=2, episode_length=20, seed=0)
    vec.reset(seed=11)
    action = np.zeros((2, network_preset.num_lanes), dtype=np.float32)
    assert_array_equal([vec.step(action)[1] for _ in range(10)], r1)


# ----------------------------------------------------------------------- action modes


def hand_state(net):
    # s1: 3 on hand, 2 due next period on A->s1 and 1 due in 2 periods on B->s1 -> IP 6.
    # s2: 1 on hand, 2 backlogged, nothing in transit -> IP -1.
    s = state_with(net, num_envs=2, on_hand=[0, 0, 3, 1], backlog=[0, 0, 0, 2])
    s.pipeline[:, 0, 0] = 2
    s.pipeline[:, 1, 1] = 1
    return s


def action_for(targets, scale, is_transfer):
    """The Box action in [-1, 1] whose scaled value is ``targets`` (on transfer lanes only
    the positive half of the range counts: a in [0, 1] moves a * scale)."""
    targets = np.asarray(targets, dtype=float)
    return np.where(is_transfer, targets / scale, 2.0 * targets / scale - 1.0)


def test_order_up_to_orders_the_gap_once():
    net = rich_network()
    amap = ActionMap(net, "order_up_to")
    s = hand_state(net)
    assert_array_equal(s.inventory_position(net)[0], [0, 0, 6, -1])
    scale = amap.scale
    assert_array_equal(scale[:3], max_target(net)[:3])
    assert scale[3] == net.max_order[3]  # a transfer lane's action is a quantity
    # env 0: targets A->s1 10, B->s1 12, A->s2 5, transfer 2 units.
    #   A->s1 orders 10 - 6 = 4; B->s1 sees 6 + 4 = 10 and orders 12 - 10 = 2 (not 6);
    #   A->s2 orders 5 - (-1) = 6; the transfer ships 2.
    # env 1: targets 8, 8, 0, 0: A->s1 orders 2, B->s1 sees 8 and orders 0; A->s2 still
    #   orders 0 - (-1) = 1 (the backlog); no transfer.
    tr = net.is_transfer
    action = np.stack([action_for([10, 12, 5, 2], scale, tr), action_for([8, 8, 0, 0], scale, tr)])
    assert_array_equal(amap.to_quantities(action, s), [[4, 2, 6, 2], [2, 0, 1, 0]])
    # -1 is a target of 0 (order only the backlog); +1 the top of the range.
    low = amap.to_quantities(-np.ones((2, 4)), s)
    assert_array_equal(low, [[0, 0, 1, 0]] * 2)
    high = amap.to_quantities(np.ones((2, 4)), s)
    assert high[0, 0] == scale[0] - 6 and high[0, 1] == max(scale[1] - scale[0], 0)


def test_quantity_discrete_and_raw_modes():
    net = rich_network()
    s = hand_state(net)
    m = net.max_order
    quantity = ActionMap(net, "quantity")
    a = np.array([[-1.0, 0.0, 1.0, 3.0], [-5.0, 0.5, -0.5, 0.5]])
    expected = np.rint((np.clip(a, -1, 1) + 1) / 2 * m)
    expected[:, 3] = np.rint(np.clip(a[:, 3], 0, 1) * m[3])  # transfer lane: positive half
    assert_array_equal(quantity.to_quantities(a, s), expected)
    assert_array_equal(expected[0], [0, np.rint(m[1] / 2), m[2], m[3]])

    # One action per env of the state (a single row for two envs is rejected, not broadcast).
    def both(row):
        return np.array([row, row], dtype=float)

    # A transfer action at or below 0 moves nothing.
    assert quantity.to_quantities(both([0.0, 0.0, 0.0, -0.3]), s)[0, 3] == 0
    discrete = ActionMap(net, "discrete")
    assert isinstance(discrete.space, gymnasium.spaces.MultiDiscrete)
    assert_array_equal(discrete.space.nvec, m.astype(int) + 1)
    assert_array_equal(discrete.to_quantities(both([0, 3, 1, 2]), s), both([0, 3, 1, 2]))
    raw = ActionMap(net, "raw")
    assert_array_equal(raw.space.high, m.astype(np.float32))
    assert_array_equal(raw.to_quantities(both([5.0, 0, 7, 1]), s), both([5, 0, 7, 1]))
    for mode in ("quantity", "order_up_to"):
        space = ActionMap(net, mode).space
        assert space.low.min() == -1 and space.high.max() == 1 and space.dtype == np.float32


def test_order_up_to_through_the_simulator_keeps_position_at_target():
    # Single node, deterministic lead time: after ordering up to S every period the
    # inventory position at the next decision is S minus last period's demand.
    net = make_network(load_env_config("backlog"))
    sim = Simulator(net, num_envs=3, episode_length=100, seed=0)
    sim.reset(seed=0)
    target = 17
    action = np.full((3, 1), 2.0 * target / sim.actions.scale[0] - 1.0)
    for _ in range(12):
        result = sim.step(action)
        position = sim.state.inventory_position(net)[:, 1]
        assert_array_equal(position, target - result.flows.demand[:, 0])


# ------------------------------------------------------------------------ observations


def test_observation_names_and_values():
    net = rich_network()
    layout = ObservationLayout(net)
    assert layout.names == [
        "on_hand[s1]",
        "on_hand[s2]",
        "backlog[s2]",
        # At a decision a lead-time-L shipment is at most L - 1 periods from arriving.
        "pipeline[A->s1][+1]",
        "pipeline[B->s1][+1]",
        "pipeline[B->s1][+2]",
        "demand[s1]",
        "demand[s2]",
        "season_sin",
        "season_cos",
        "up[A->s2]",
    ]
    s = hand_state(net)
    s.last_demand[:] = [[4, 1], [0, 6]]
    s.period[:] = [1, 6]
    s.lane_up[1, 2] = False
    obs = layout.build(s)
    assert obs.dtype == np.float32 and obs.shape == (2, len(layout.names))
    scale = np.mean(net.demand.mean_demand)  # (5 + 3) / 2 = 4
    assert scale == 4
    value = {name: obs[:, layout.index(name)] for name in layout.names}
    assert_array_equal(value["on_hand[s1]"], [3 / 4, 3 / 4])
    assert_array_equal(value["backlog[s2]"], [2 / 4, 2 / 4])
    assert_array_equal(value["pipeline[A->s1][+1]"], [2 / 4, 2 / 4])
    assert_array_equal(value["pipeline[B->s1][+2]"], [1 / 4, 1 / 4])
    assert_array_equal(value["pipeline[B->s1][+1]"], [0, 0])
    assert_array_equal(value["demand[s1]"], [1.0, 0.0])
    assert_array_equal(value["demand[s2]"], [0.25, 1.5])
    # Season phase of periods 1 and 6 in a 4-period season: angles pi/2 and pi.
    np.testing.assert_allclose(value["season_sin"], [1, 0], atol=1e-6)
    np.testing.assert_allclose(value["season_cos"], [0, -1], atol=1e-6)
    assert_array_equal(value["up[A->s2]"], [1, 0])
    assert layout.space.contains(obs[0])
    # The env exposes the same names.
    env = InventoryNetworkEnv(net, seed=0)
    assert env.observation_names == layout.names


def test_a_promotion_calendar_is_observed_as_its_season_phase():
    # A 26-period calendar with a 3-period promotion: the phase of the cycle is observed
    # (sin, cos of 2 pi t / 26), so a learned policy can see the promotion coming.
    calendar = [1.0] * 26
    calendar[20:23] = [3.0] * 3
    net = build_network(
        {
            "nodes": [
                supplier(),
                store("s", demand={"mean": 5, "seasonality": {"calendar": calendar}}),
            ],
            "lanes": [lane("supplier", "s", lead_time=4)],
        }
    )
    layout = ObservationLayout(net)
    assert layout.names[-2:] == ["season_sin", "season_cos"]
    s = state_with(net, 3)
    s.period[:] = [0, 17, 17 + 26]
    obs = layout.build(s)
    angle = 2 * np.pi * 17 / 26
    expected = [[0, 1], [np.sin(angle), np.cos(angle)], [np.sin(angle), np.cos(angle)]]
    np.testing.assert_allclose(obs[:, -2:], expected, atol=1e-6)
