"""Agents: configs build every algorithm, AgentPolicy matches the model on the env, and
incompatible algorithm/action-mode pairs fail early with the option named."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from agents.checkpoint import load_agent, save_agent
from agents.factory import build_agent, check_compatible
from agents.policy import AgentPolicy
from baselines.evaluation import evaluate
from envs.presets import CONF_DIR, make_network


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def make(agent: str, env: str = "lost_sales", num_envs: int = 2, *overrides: str):
    from agents.factory import make_training_env

    cfg = compose_train(f"env={env}", f"agent={agent}", *overrides)
    net = make_network(cfg.env)
    venv = make_training_env(net, num_envs, int(cfg.env.episode_length), cfg.env.action_mode, 0)
    model, env_ = build_agent(cfg.agent, venv, seed=0)
    return cfg, net, venv, model, env_


def warm_up(env, steps: int = 30) -> None:
    """Random steps through VecNormalize so its statistics move away from the identity."""
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, (env.num_envs, *env.action_space.shape)).astype(np.float32))


TINY = {
    "on": ["agent.model.n_steps=16", "agent.model.batch_size=16", "agent.model.n_epochs=1"],
    "off": ["agent.model.learning_starts=8", "agent.model.buffer_size=1000"],
}


@pytest.mark.parametrize(
    ("agent", "kind"),
    [("ppo", "on"), ("a2c", "on"), ("sac", "off"), ("td3", "off"), ("recurrent_ppo", "on")],
)
def test_every_agent_config_builds_and_learns(agent, kind):
    overrides = [o for o in TINY[kind] if not (agent == "a2c" and ("batch" in o or "epochs" in o))]
    cfg, net, venv, model, env = make(agent, "lost_sales", 2, *overrides)
    model.learn(32)
    assert model.num_timesteps >= 32
    policy = AgentPolicy(model, env, net, cfg.env.action_mode)
    result = evaluate(net, policy, num_envs=2, periods=30, warmup=5, seed=1)
    assert np.isfinite(result.cost_mean) and result.cost_mean > 0


@pytest.mark.parametrize(("agent", "mode"), [("sac", "discrete"), ("td3", "discrete")])
def test_incompatible_action_mode_names_the_options(agent, mode):
    cfg = compose_train("env=lost_sales", f"agent={agent}", f"env.action_mode={mode}")
    with pytest.raises(
        ValueError, match=f"agent={agent} is incompatible with env.action_mode={mode}"
    ):
        check_compatible(cfg.agent, cfg.env.action_mode)


def test_box_only_config_rejects_box_free_mode_and_accepts_box():
    cfg = compose_train("agent=ppo", "agent.action_spaces=[multidiscrete]")
    with pytest.raises(ValueError, match="agent=ppo is incompatible with env.action_mode=quantity"):
        check_compatible(cfg.agent, "quantity")
    check_compatible(cfg.agent, "discrete")  # no error


@pytest.mark.parametrize(
    ("env_name", "mode"),
    [("lost_sales", "order_up_to"), ("owmr_transship", "order_up_to"), ("lost_sales", "discrete")],
)
def test_agent_policy_matches_model_predict_on_env_obs(env_name, mode):
    cfg, net, venv, model, env = make("ppo", env_name, 4, f"env.action_mode={mode}")
    warm_up(env)
    assert env.obs_rms.count > 30  # normalisation is not the identity
    obs = venv.sim.layout.build(venv.sim.state)
    expected_action, _ = model.predict(env.normalize_obs(obs), deterministic=True)
    expected = venv.sim.actions.to_quantities(expected_action, venv.sim.state)
    policy = AgentPolicy(model, env, net, mode)
    np.testing.assert_array_equal(policy.act(venv.sim.state), expected)
    # The env's own observation of this state is the one AgentPolicy builds.
    venv.step_async(expected_action)
    next_obs, *_ = venv.step_wait()
    np.testing.assert_array_equal(next_obs, policy.layout.build(venv.sim.state))


def test_recurrent_policy_carries_and_resets_lstm_state():
    cfg, net, venv, model, env = make("recurrent_ppo", "lost_sales", 3)
    warm_up(env, 5)
    policy = AgentPolicy(model, env, net, cfg.env.action_mode)
    state = venv.sim.state
    obs = env.normalize_obs(venv.sim.layout.build(state))
    a1, h1 = model.predict(obs, state=None, episode_start=np.ones(3, bool), deterministic=True)
    a2, _ = model.predict(obs, state=h1, episode_start=np.zeros(3, bool), deterministic=True)
    q = venv.sim.actions.to_quantities
    np.testing.assert_array_equal(policy.act(state), q(a1, state))
    np.testing.assert_array_equal(policy.act(state), q(a2, state))  # second call: carried
    policy.reset(net, 3, None)
    np.testing.assert_array_equal(policy.act(state), q(a1, state))  # reset: fresh episode


def test_saved_agent_restores_model_and_normalisation(tmp_path):
    cfg, net, venv, model, env = make("ppo", "lost_sales", 2)
    warm_up(env)
    save_agent(model, env, tmp_path / "agent")
    model2, env2 = load_agent(cfg.agent, tmp_path / "agent", venv)
    np.testing.assert_allclose(env2.obs_rms.mean, env.obs_rms.mean)
    a = AgentPolicy(model, env, net).act(venv.sim.state)
    b = AgentPolicy(model2, env2, net).act(venv.sim.state)
    np.testing.assert_array_equal(a, b)


def test_missing_checkpoint_names_option_and_path(tmp_path):
    cfg, net, venv, *_ = make("ppo")
    missing = tmp_path / "nowhere" / "checkpoint.json"
    with pytest.raises(ValueError, match=r"train.resume: no checkpoint at .*nowhere"):
        load_agent(cfg.agent, missing, venv)
