"""Agent checkpoints that hold data only: loading one never unpickles anything.

A saved agent is a directory of three files:

- ``checkpoint.json``: the format version, the algorithm's class name, the timestep count
  and the VecNormalize settings (plain JSON, checked against a strict schema);
- ``parameters.pt``: the torch state dicts of the model (policy and optimizers) and its
  torch variables (e.g. SAC's entropy coefficient), read with
  ``torch.load(weights_only=True)``, which accepts tensors and plain containers only;
- ``vecnormalize.npz``: the running observation and return statistics, read with
  ``numpy.load(allow_pickle=False)``.

The model is rebuilt from the run's own agent config (``agent=...`` and its overrides),
never from anything in the checkpoint; the checkpoint only supplies numbers, and a
checkpoint of another algorithm or architecture is rejected naming the option. SB3's own
format (``model.zip``, ``vecnormalize.pkl``) is pickle-based, so loading it could run
code: a directory holding only those files is refused, not loaded.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from omegaconf import DictConfig
from pydantic import Field
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.vec_env import VecNormalize

from agents.factory import build_agent, check_compatible, model_class
from envs.sb3 import InventoryNetworkSB3VecEnv
from envs.schema import ConfigError, StrictModel, parse

FORMAT = 1
META_FILE = "checkpoint.json"
PARAMETERS_FILE = "parameters.pt"
STATISTICS_FILE = "vecnormalize.npz"
PICKLED_FILES = ("model.zip", "vecnormalize.pkl")
"""SB3's pickle-based files: never loaded."""


class NormalizationSettings(StrictModel):
    norm_obs: bool
    norm_reward: bool
    clip_obs: Annotated[float, Field(gt=0)]
    clip_reward: Annotated[float, Field(gt=0)]
    gamma: Annotated[float, Field(gt=0, le=1)]
    epsilon: Annotated[float, Field(gt=0)]


class CheckpointMeta(StrictModel):
    """What ``checkpoint.json`` holds."""

    format: Annotated[int, Field(ge=1, le=FORMAT)]
    algorithm: str
    """Module and class name of the SB3 algorithm, e.g. ``stable_baselines3.ppo.ppo.PPO``."""
    num_timesteps: Annotated[int, Field(ge=0)]
    n_updates: Annotated[int, Field(ge=0)] = 0
    vecnormalize: NormalizationSettings


def algorithm_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def save_agent(model: BaseAlgorithm, vecnormalize: VecNormalize, directory: str | Path) -> Path:
    """Write the agent as ``parameters.pt``, ``vecnormalize.npz`` and (last, so that a
    directory with it is complete) ``checkpoint.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _, variables = model._get_torch_save_params()
    torch.save(
        {
            "parameters": model.get_parameters(),
            "variables": {n: recursive_getattr(model, n).detach().cpu() for n in variables},
        },
        directory / PARAMETERS_FILE,
    )
    obs, ret = vecnormalize.obs_rms, vecnormalize.ret_rms
    np.savez(
        directory / STATISTICS_FILE,
        obs_mean=obs.mean,
        obs_var=obs.var,
        obs_count=np.float64(obs.count),
        ret_mean=np.float64(ret.mean),
        ret_var=np.float64(ret.var),
        ret_count=np.float64(ret.count),
    )
    meta = CheckpointMeta(
        format=FORMAT,
        algorithm=algorithm_name(type(model)),
        num_timesteps=int(model.num_timesteps),
        n_updates=int(getattr(model, "_n_updates", 0)),
        vecnormalize=NormalizationSettings(
            norm_obs=bool(vecnormalize.norm_obs),
            norm_reward=bool(vecnormalize.norm_reward),
            clip_obs=float(vecnormalize.clip_obs),
            clip_reward=float(vecnormalize.clip_reward),
            gamma=float(vecnormalize.gamma),
            epsilon=float(vecnormalize.epsilon),
        ),
    )
    tmp = directory / f".{META_FILE}.tmp"
    tmp.write_text(meta.model_dump_json(indent=1))
    os.replace(tmp, directory / META_FILE)
    return directory


def checkpoint_dir(path: str | Path, option: str = "train.resume") -> Path:
    """The agent directory of ``path`` (the directory or a file in it); checks that it holds
    a checkpoint of this format."""
    p = Path(path).expanduser()
    directory = p.parent if p.suffix else p
    if (directory / META_FILE).is_file():
        return directory
    pickled = [name for name in PICKLED_FILES if (directory / name).is_file()]
    if pickled:
        raise ValueError(
            f"{option}: {str(directory)!r} holds a pickle-based SB3 checkpoint "
            f"({', '.join(pickled)}); pickles can run code when loaded, so it is not loaded "
            f"(agents.checkpoint.save_agent writes {META_FILE}, {PARAMETERS_FILE}, "
            f"{STATISTICS_FILE})"
        )
    raise ValueError(f"{option}: no checkpoint at {str(p)!r} (expected {directory / META_FILE})")


def load_agent(
    agent_cfg: DictConfig,
    path: str | Path,
    venv: InventoryNetworkSB3VecEnv,
    *,
    option: str = "train.resume",
    tensorboard_log: str | None = None,
) -> tuple[BaseAlgorithm, VecNormalize]:
    """Rebuild the agent of ``agent_cfg`` on ``venv`` and load a saved agent's numbers into
    it (parameters, optimizer state, timestep count, VecNormalize statistics).

    Raises:
        ValueError: naming ``option``, for a missing or pickle-based checkpoint, one of
            another algorithm or architecture, or a file that is not plain data.
    """
    directory = checkpoint_dir(path, option)
    check_compatible(agent_cfg, venv.sim.actions.mode)
    meta_file = directory / META_FILE
    try:
        meta = parse(CheckpointMeta, json.loads(meta_file.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, ConfigError) as err:
        raise ValueError(f"{option}: {str(meta_file)!r}: {err}") from None
    expected = algorithm_name(model_class(agent_cfg))
    if meta.algorithm != expected:
        raise ValueError(
            f"{option}: the checkpoint holds a {meta.algorithm} agent; agent={agent_cfg.name} "
            f"builds {expected}"
        )
    model, env = build_agent(agent_cfg, venv, seed=None, tensorboard_log=tensorboard_log)
    _load_parameters(model, directory / PARAMETERS_FILE, option, str(agent_cfg.name))
    model.num_timesteps = meta.num_timesteps
    model._n_updates = meta.n_updates
    _load_statistics(env, directory / STATISTICS_FILE, meta.vecnormalize, option)
    return model, env


def _load_parameters(model: BaseAlgorithm, file: Path, option: str, agent: str) -> None:
    try:
        saved = torch.load(file, weights_only=True, map_location=model.device)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{option}: {str(file)!r} is not a tensors-only checkpoint, so it is not loaded "
            f"({first})"
        ) from None
    modules, variables = model._get_torch_save_params()
    if not isinstance(saved, dict) or set(saved) != {"parameters", "variables"}:
        raise ValueError(f"{option}: {str(file)!r} is not an invnet checkpoint")
    parameters, tensors = saved["parameters"], saved["variables"]
    if set(parameters) != set(modules) or set(tensors) != set(variables):
        raise ValueError(
            f"{option}: {str(file)!r} holds {sorted(parameters)} + {sorted(tensors)}; "
            f"agent={agent} has {sorted(modules)} + {sorted(variables)}"
        )
    try:
        model.set_parameters(parameters, exact_match=True, device=model.device)
        with torch.no_grad():
            for name, tensor in tensors.items():
                recursive_getattr(model, name).copy_(tensor)
    except (RuntimeError, ValueError, KeyError) as err:
        first = " ".join(str(err).split())[:300]
        raise ValueError(
            f"{option}: the checkpoint does not fit agent={agent} as configured "
            f"(another architecture?): {first}"
        ) from None


def _load_statistics(
    env: VecNormalize, file: Path, settings: NormalizationSettings, option: str
) -> None:
    try:
        with np.load(file, allow_pickle=False) as data:
            stats = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(f"{option}: {str(file)!r} is not a statistics file ({err})") from None
    shape = env.obs_rms.mean.shape
    need = {"obs_mean", "obs_var", "obs_count", "ret_mean", "ret_var", "ret_count"}
    if set(stats) != need or stats["obs_mean"].shape != shape or stats["obs_var"].shape != shape:
        raise ValueError(
            f"{option}: {str(file)!r} does not hold observation statistics of shape {shape}"
        )
    if not all(np.isfinite(v).all() for v in stats.values()):
        raise ValueError(f"{option}: {str(file)!r} holds non-finite statistics")
    env.obs_rms.mean, env.obs_rms.var = stats["obs_mean"], stats["obs_var"]
    env.obs_rms.count = float(stats["obs_count"])
    env.ret_rms.mean, env.ret_rms.var = stats["ret_mean"], stats["ret_var"]
    env.ret_rms.count = float(stats["ret_count"])
    for key, value in settings.model_dump().items():
        setattr(env, key, value)
