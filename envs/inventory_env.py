"""Gymnasium front ends: the batched ``InventoryNetworkVecEnv`` and its single-env twin.

Action space
    Depends on ``action_mode`` (see ``envs.actions``): by default ``order_up_to``, a Box in
    [-1, 1] per lane mapped to a target inventory position (replenishment lanes) or a
    quantity (transfer lanes).

Observation
    A float32 vector; ``env.observation_names`` names every entry (see
    ``envs.observations``). Quantities are scaled by the mean demand per period.

Reward
    Minus the total cost of the period (holding, in-transit holding, backlog, lost sales,
    overflow, ordering, transfer). ``info["cost/<component>"]`` has the breakdown and
    ``info`` also carries demand, sales, filled, lost, backlog, shipped, received,
    clipped (units cut by lane capacity) and overflow.

Episode end
    Never terminated; truncated after ``episode_length`` periods. The VectorEnv resets
    finished envs in the same step (``AutoresetMode.SAME_STEP``) and puts their last
    observation and info in ``info["final_obs"]`` / ``info["final_info"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.simulator import Simulator, SimulatorView, step_info


class InventoryNetworkVecEnv(SimulatorView, VectorEnv):
    """B inventory networks stepped together as one ``gymnasium.vector.VectorEnv``.

    Args:
        network: a ``Network`` or a network config.
        num_envs: B.
        episode_length: periods per episode (a truncation at the end).
        action_mode: ``order_up_to`` | ``quantity`` | ``discrete`` | ``raw``.
        seed: root seed; ``reset(seed=...)`` restarts the streams.
        backend: ``numba`` (compiled step, default) or ``numpy`` (reference); same numbers.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        network: Any,
        num_envs: int = 8,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
        render_mode: str | None = None,
        backend: str = "numba",
    ):
        self.sim = Simulator(network, num_envs, episode_length, action_mode, seed, backend=backend)
        self.num_envs = self.sim.num_envs
        self.render_mode = render_mode
        self.single_action_space = self.sim.actions.space
        self.single_observation_space = self.sim.layout.space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._mask = np.ones(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.sim.reset(seed), {}

    def step(self, actions):
        result = self.sim.step(actions)
        info: dict[str, Any] = step_info(result)
        if result.final_obs is not None:
            done = result.truncated
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = result.final_obs[i]
            info["final_obs"], info["_final_obs"] = final_obs, done
            final_info = {k: v for k, v in info.items() if not k.startswith(("final", "_final"))}
            final_info.update({f"_{k}": done for k in list(final_info)})
            info["final_info"], info["_final_info"] = final_info, done
        for key in [k for k in info if not k.startswith(("_", "final"))]:
            info[f"_{key}"] = self._mask
        return result.obs, result.reward, result.terminated, result.truncated, info


class InventoryNetworkEnv(SimulatorView, gym.Env):
    """One inventory network as a ``gymnasium.Env`` (a B = 1 view of the batched core).

    ``env_index`` picks the noise stream, so ``InventoryNetworkEnv(..., env_index=i)``
    replays env i of an ``InventoryNetworkVecEnv`` with the same seed. No autoreset:
    call ``reset`` after ``truncated``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        network: Any,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
        env_index: int = 0,
        render_mode: str | None = None,
        backend: str = "numba",
    ):
        # Episode end is handled here (not by the simulator's autoreset): episode_length
        # is passed as "never" to the core and checked below.
        self.sim = Simulator(
            network, 1, 2**62, action_mode, seed, first_env=env_index, backend=backend
        )
        self.episode_length = int(episode_length)
        self.render_mode = render_mode
        self.action_space = self.sim.actions.space
        self.observation_space = self.sim.layout.space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.sim.reset(seed)[0], {}

    def step(self, action):
        result = self.sim.step(np.asarray(action)[None])
        info = {k: v[0] for k, v in step_info(result).items()}
        truncated = bool(self.sim.state.period[0] >= self.episode_length)
        return result.obs[0], float(result.reward[0]), False, truncated, info
