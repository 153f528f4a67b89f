"""Build, save and load stable-baselines3 agents from Hydra agent configs.

An agent config (``conf/agent/<algo>.yaml``) holds:

- ``name``: the option's name (``ppo``, ``sac``, ...), used in messages;
- ``action_spaces``: the action spaces the algorithm supports (``box`` and/or
  ``multidiscrete``); checked against ``env.action_mode`` before anything is built;
- ``num_envs``: parallel envs of the batched simulator (one ``InventoryNetworkSB3VecEnv``);
- ``normalize``: ``VecNormalize`` settings (observation and reward normalisation);
- ``action_noise_std``: Gaussian exploration noise for the off-policy algorithms (TD3);
- ``model``: the SB3 algorithm, ``_target_`` with ``_partial_: true`` (the env is passed at
  run time), every hyperparameter overridable from the command line
  (``agent.model.learning_rate=1e-4``).

Saving and loading agents (data only, no pickles) is ``agents.checkpoint``.
"""

from __future__ import annotations

from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from envs.network import Network
from envs.sb3 import InventoryNetworkSB3VecEnv

# The action space each env.action_mode gives (envs.actions.ActionMap.space).
SPACE_OF_MODE = {
    "order_up_to": "box",
    "quantity": "box",
    "raw": "box",
    "discrete": "multidiscrete",
}


def check_compatible(agent_cfg: Any, action_mode: str) -> None:
    """Raise ValueError when the algorithm cannot act in ``env.action_mode``'s space."""
    space = SPACE_OF_MODE.get(action_mode)
    if space is None:
        raise ValueError(
            f"env.action_mode: unknown {action_mode!r}; choose one of {list(SPACE_OF_MODE)}"
        )
    supported = list(agent_cfg.get("action_spaces", ["box"]))
    if space not in supported:
        modes = [m for m, s in SPACE_OF_MODE.items() if s in supported and m != "raw"]
        raise ValueError(
            f"agent={agent_cfg.name} is incompatible with env.action_mode={action_mode}: "
            f"{agent_cfg.name} needs a {' or '.join(supported)} action space, "
            f"env.action_mode={action_mode} gives {space}; use env.action_mode={' or '.join(modes)}"
        )


def make_training_env(
    net: Network, num_envs: int, episode_length: int, action_mode: str, seed: int
) -> InventoryNetworkSB3VecEnv:
    """The batched simulator as an SB3 VecEnv (no DummyVecEnv), seeded with ``seed``."""
    venv = InventoryNetworkSB3VecEnv(
        net, num_envs=num_envs, episode_length=episode_length, action_mode=action_mode, seed=seed
    )
    venv.seed(seed)
    return venv


def _normalized(venv: VecEnv, agent_cfg: Any) -> VecNormalize:
    norm = agent_cfg.get("normalize") or {}
    gamma = float(agent_cfg.model.get("gamma", 0.99))
    return VecNormalize(
        VecMonitor(venv),
        norm_obs=bool(norm.get("norm_obs", True)),
        norm_reward=bool(norm.get("norm_reward", True)),
        clip_obs=float(norm.get("clip_obs", 10.0)),
        clip_reward=float(norm.get("clip_reward", 10.0)),
        gamma=gamma,
    )


def _model_kwargs(agent_cfg: Any, venv: VecEnv) -> dict:
    kwargs: dict[str, Any] = {}
    std = agent_cfg.get("action_noise_std")
    if std:
        n = int(np.prod(venv.action_space.shape))
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n), float(std) * np.ones(n))
    return kwargs


def build_agent(
    agent_cfg: DictConfig,
    venv: InventoryNetworkSB3VecEnv,
    *,
    seed: int | None = 0,
    tensorboard_log: str | None = None,
) -> tuple[BaseAlgorithm, VecNormalize]:
    """A fresh SB3 model on ``venv`` wrapped in VecMonitor + VecNormalize."""
    check_compatible(agent_cfg, venv.sim.actions.mode)
    env = _normalized(venv, agent_cfg)
    make = hydra.utils.instantiate(agent_cfg.model, _convert_="all")
    model = make(
        env=env, seed=seed, tensorboard_log=tensorboard_log, **_model_kwargs(agent_cfg, env)
    )
    return model, env


def model_class(agent_cfg: DictConfig) -> type[BaseAlgorithm]:
    return hydra.utils.get_class(agent_cfg.model._target_)


def agent_settings(agent_cfg: DictConfig) -> dict[str, Any]:
    """Flat hyperparameters of an agent config (for the TensorBoard hparams plugin)."""
    flat: dict[str, Any] = {"agent": agent_cfg.name, "num_envs": int(agent_cfg.num_envs)}
    model = OmegaConf.to_container(agent_cfg.model, resolve=True)
    for key, value in model.items():
        if key.startswith("_"):
            continue
        if isinstance(value, bool | int | float | str):
            flat[key] = value
        else:
            flat[key] = str(value)
    return flat
