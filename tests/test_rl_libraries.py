"""The native batched env through the RL libraries researchers use besides SB3:
Gymnasium's vector wrappers (CleanRL's stack), TorchRL and Tianshou."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import vector as vw

import envs  # noqa: F401  (registers the ids)
from envs import PRESETS, InventoryNetworkVecEnv
from envs.presets import load_env_config, make_network, make_tianshou_vec_env

EPISODE = 5


def make_vec(mode: str, preset: str = "OWMR", num_envs: int = 4, **kwargs):
    return gym.make_vec(
        f"invnet/{preset}-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=mode,
        episode_length=EPISODE,
        **kwargs,
    )


def fixed_actions(space: gym.Space, steps: int, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, space.shape).astype(space.dtype) for _ in range(steps)]


def test_autoreset_mode_is_an_attribute_and_in_metadata():
    for mode in ("SAME_STEP", "NEXT_STEP"):
        env = make_vec(mode)
        assert env.autoreset_mode == AutoresetMode[mode]
        assert env.metadata["autoreset_mode"] == AutoresetMode[mode]
    # the class default is untouched by an instance's choice
    assert InventoryNetworkVecEnv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def test_unknown_autoreset_mode_is_named():
    with pytest.raises(ValueError, match="autoreset_mode: must be one of .*'DISABLED'"):
        make_vec("DISABLED")


def test_next_step_gives_the_numbers_of_same_step():
    """Same seed, same actions: NEXT_STEP returns SAME_STEP's rewards and observations,
    with the last observation at the end of an episode and one extra reset step."""
    same, nxt = make_vec("SAME_STEP"), make_vec("NEXT_STEP")
    obs_s, _ = same.reset(seed=11)
    obs_n, _ = nxt.reset(seed=11)
    np.testing.assert_array_equal(obs_s, obs_n)
    for t, action in enumerate(fixed_actions(same.action_space, 3 * EPISODE)):
        obs_s, rew_s, _, trunc_s, info_s = same.step(action)
        obs_n, rew_n, term_n, trunc_n, _ = nxt.step(action)
        np.testing.assert_array_equal(rew_s, rew_n)
        np.testing.assert_array_equal(trunc_s, trunc_n)
        if trunc_s.any():
            assert (t + 1) % EPISODE == 0 and trunc_s.all()
            np.testing.assert_array_equal(np.stack(info_s["final_obs"]), obs_n)
            # the reset step: actions ignored, first observation of the next episode
            obs_n, rew_n, term_n, trunc_n, info_n = nxt.step(-action)
            assert not (term_n.any() or trunc_n.any()) and info_n == {}
            np.testing.assert_array_equal(rew_n, 0.0)
        np.testing.assert_array_equal(obs_s, obs_n)
    assert rew_s.dtype == np.float64


def test_cleanrl_wrapper_stack_on_the_native_env():
    """CleanRL's continuous-action PPO stack runs and its episode statistics are the sums
    of the native env's rewards."""
    plain = make_vec("NEXT_STEP")
    env = vw.RecordEpisodeStatistics(make_vec("NEXT_STEP"))
    env = vw.ClipAction(env)
    env = vw.NormalizeObservation(env)
    env = vw.TransformObservation(env, lambda o: np.clip(o, -10, 10))
    env = vw.NormalizeReward(env, gamma=0.99)
    env = vw.TransformReward(env, lambda r: np.clip(r, -10, 10))
    env.reset(seed=5)
    plain.reset(seed=5)
    returns = np.zeros(plain.num_envs)
    episodes = []
    for action in fixed_actions(env.action_space, 2 * (EPISODE + 1)):
        obs, _, _, truncated, info = env.step(action)
        _, reward, _, _, _ = plain.step(action)
        returns += reward
        assert np.isfinite(obs).all() and np.abs(obs).max() <= 10
        if truncated.any():
            episodes.append(info["episode"]["r"])
            np.testing.assert_allclose(info["episode"]["r"], returns, rtol=1e-6)
            np.testing.assert_array_equal(info["episode"]["l"], EPISODE)
            returns[:] = 0
    assert len(episodes) == 2


def test_torchrl_gym_wrapper_passes_check_env_specs_across_episode_ends():
    torchrl_envs = pytest.importorskip("torchrl.envs")
    from torchrl.envs.utils import check_env_specs

    vec = make_vec("SAME_STEP", preset="Network")
    env = torchrl_envs.GymWrapper(vec)
    check_env_specs(env)
    env.set_seed(2)
    rollout = env.rollout(3 * EPISODE + 2, break_when_any_done=False)
    assert rollout.batch_size == (4, 3 * EPISODE + 2)
    truncated = rollout["next", "truncated"].squeeze(-1).numpy()
    assert truncated.sum(axis=1).tolist() == [3] * 4
    assert np.flatnonzero(truncated[0]).tolist() == [EPISODE - 1, 2 * EPISODE - 1, 3 * EPISODE - 1]


def test_registered_ids_carry_the_preset_episode_length():
    for name, preset in PRESETS.items():
        spec = gym.spec(f"invnet/{name}-v0")
        assert spec.max_episode_steps == load_env_config(preset).episode_length
    env = gym.make("invnet/LostSales-v0")
    assert env.spec.max_episode_steps == 200
    env.reset(seed=0)
    assert isinstance(env.step(env.action_space.sample())[1], float)


def test_make_vec_horizon_settings():
    make = gym.make_vec
    kw = {"num_envs": 2, "vectorization_mode": "vector_entry_point"}
    assert make("invnet/LostSales-v0", **kw).unwrapped.sim.episode_length == 200
    assert (
        make("invnet/LostSales-v0", max_episode_steps=50, **kw).unwrapped.sim.episode_length == 50
    )
    # an override of the preset's own length is not undone by the spec's default
    env = make("invnet/LostSales-v0", overrides=["env.episode_length=30"], **kw)
    assert env.unwrapped.sim.episode_length == 30
    with pytest.raises(ValueError, match="max_episode_steps: 50 conflicts with episode_length 7"):
        make("invnet/LostSales-v0", max_episode_steps=50, episode_length=7, **kw)


def test_tianshou_collector_replays_the_gymnasium_numbers():
    """Episodes collected by Tianshou's Collector from the adapter have the rewards the
    Gymnasium VectorEnv gives for the same seed and actions."""
    pytest.importorskip("tianshou")
    from tianshou.algorithm.algorithm_base import RandomActionPolicy
    from tianshou.data import Collector, VectorReplayBuffer

    num_envs = 3
    env = make_tianshou_vec_env("owmr", num_envs=num_envs, episode_length=EPISODE, seed=4)
    assert len(env) == num_envs
    buffer = VectorReplayBuffer(100 * num_envs, num_envs)
    collector = Collector(RandomActionPolicy(env.action_space[0]), env, buffer)
    collector.reset(gym_reset_kwargs={"seed": 4})
    stats = collector.collect(n_episode=2 * num_envs)
    assert stats.n_collected_episodes == 2 * num_envs
    assert stats.n_collected_steps == 2 * num_envs * EPISODE

    # each env's transitions, in order, from its own sub-buffer
    per_env = [buffer.buffers[i] for i in range(num_envs)]
    actions = np.stack([b.act[: 2 * EPISODE] for b in per_env], axis=1)  # [T, B, E]
    rewards = np.stack([b.rew[: 2 * EPISODE] for b in per_env], axis=1)
    obs = np.stack([b.obs[: 2 * EPISODE] for b in per_env], axis=1)
    gym_env = InventoryNetworkVecEnv(make_network(load_env_config("owmr")), num_envs, EPISODE)
    first, _ = gym_env.reset(seed=4)
    np.testing.assert_array_equal(obs[0], first)
    for t in range(2 * EPISODE):
        np.testing.assert_array_equal(obs[t], first)
        first, reward, _, _, _ = gym_env.step(actions[t])
        np.testing.assert_array_equal(rewards[t], reward)
    np.testing.assert_allclose(
        np.sort(stats.returns), np.sort(rewards.reshape(2, EPISODE, num_envs).sum(1).ravel())
    )


def test_tianshou_adapter_refuses_a_subset_of_envs():
    env = make_tianshou_vec_env("lost_sales", num_envs=4)
    env.reset()
    with pytest.raises(ValueError, match="id: the envs of a batch step together"):
        env.step(np.zeros((2, 1)), id=[0, 1])
