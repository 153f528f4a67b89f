"""Checkpoints hold data only: loading one rebuilds the model from the run's config and
never unpickles anything (agents.checkpoint)."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_agents import TINY, make, warm_up

from agents.checkpoint import load_agent, save_agent
from agents.factory import make_training_env
from agents.policy import AgentPolicy


class WritesAFile:
    """A pickle payload: unpickling it creates ``path`` (harmless proof of code execution)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _trained(agent: str, kind: str, tmp_path: Path):
    cfg, net, venv, model, env = make(agent, "lost_sales", 2, *TINY[kind])
    model.learn(64 if kind == "on" else 16)  # off-policy: a few gradient steps suffice
    warm_up(env)
    save_agent(model, env, tmp_path / "agent")
    return cfg, net, venv, model, env


@pytest.mark.parametrize(("agent", "kind"), [("ppo", "on"), ("sac", "off")])
def test_round_trip_restores_weights_optimizer_statistics_and_count(tmp_path, agent, kind):
    cfg, net, venv, model, env = _trained(agent, kind, tmp_path)
    files = sorted(p.name for p in (tmp_path / "agent").iterdir())
    assert files == ["checkpoint.json", "parameters.pt", "vecnormalize.npz"]
    fresh = make_training_env(net, 2, 200, "order_up_to", 1)
    model2, env2 = load_agent(cfg.agent, tmp_path / "agent", fresh)
    assert model2.num_timesteps == model.num_timesteps > 0
    np.testing.assert_array_equal(env2.obs_rms.mean, env.obs_rms.mean)
    assert env2.ret_rms.count == env.ret_rms.count
    for name, params in model.get_parameters().items():
        loaded = model2.get_parameters()[name]
        if name.endswith("optimizer"):
            assert loaded["state"].keys() == params["state"].keys()
            for key, state in params["state"].items():
                for k, v in state.items():
                    torch.testing.assert_close(loaded["state"][key][k], v)
        else:
            for k, v in params.items():
                torch.testing.assert_close(loaded[k], v)
    if agent == "sac":
        torch.testing.assert_close(model2.log_ent_coef, model.log_ent_coef)
    a = AgentPolicy(model, env, net).act(venv.sim.state)
    b = AgentPolicy(model2, env2, net).act(venv.sim.state)
    np.testing.assert_array_equal(a, b)


def test_pickled_sb3_checkpoint_is_refused_without_unpickling(tmp_path):
    cfg, _, venv, _, _ = make("ppo")
    marker = tmp_path / "pwned"
    directory = tmp_path / "crafted"
    directory.mkdir()
    (directory / "vecnormalize.pkl").write_bytes(pickle.dumps(WritesAFile(marker)))
    with zipfile.ZipFile(directory / "model.zip", "w") as z:
        z.writestr("data", json.dumps({"policy_class": {":serialized:": "gAR9lC4="}}))
        z.writestr("pytorch_variables.pth", pickle.dumps(WritesAFile(marker)))
    for path in (directory, directory / "model.zip"):
        with pytest.raises(ValueError, match=r"^train\.resume: .*pickle-based .*not loaded"):
            load_agent(cfg.agent, path, venv)
    assert not marker.exists()


def test_crafted_parameters_or_statistics_are_rejected_without_running_code(tmp_path):
    cfg, _, venv, _, _ = _trained("ppo", "on", tmp_path)
    marker = tmp_path / "pwned"
    agent = tmp_path / "agent"
    good = (agent / "parameters.pt").read_bytes()
    torch.save({"parameters": WritesAFile(marker), "variables": {}}, agent / "parameters.pt")
    with pytest.raises(ValueError, match=r"^best: .*parameters\.pt.* not a tensors-only"):
        load_agent(cfg.agent, agent, venv, option="best")
    assert not marker.exists()
    (agent / "parameters.pt").write_bytes(good)
    with open(agent / "vecnormalize.npz", "wb") as f:  # an object array: pickles inside
        np.save(f, np.array([WritesAFile(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"vecnormalize\.npz.* not a statistics file"):
        load_agent(cfg.agent, agent, venv)
    assert not marker.exists()


def test_checkpoint_of_another_algorithm_or_architecture_is_rejected(tmp_path):
    _trained("ppo", "on", tmp_path)
    a2c, *_ = make("a2c")
    _, _, venv, _, _ = make("ppo")
    with pytest.raises(ValueError, match=r"^train\.resume: the checkpoint holds a .*PPO agent"):
        load_agent(a2c.agent, tmp_path / "agent", venv)
    wide, *_ = make("ppo", "lost_sales", 2, "agent.model.policy_kwargs.net_arch=[32]")
    with pytest.raises(ValueError, match=r"does not fit agent=ppo as configured"):
        load_agent(wide.agent, tmp_path / "agent", venv)
    meta = json.loads((tmp_path / "agent" / "checkpoint.json").read_text())
    meta["vecnormalize"]["clip_obs"] = "import os"
    (tmp_path / "agent" / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"checkpoint\.json.*vecnormalize\.clip_obs"):
        load_agent(wide.agent, tmp_path / "agent", venv)
