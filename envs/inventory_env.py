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

Reward dtype
    The VectorEnv returns float64 rewards (``-costs.total`` of the float32 simulator,
    widened so sums over long runs do not lose digits); the single env a Python float;
    the SB3 adapter float32 (SB3's buffers store float32 anyway).

Episode end
    Never terminated; truncated after ``episode_length`` periods (also the registered
    ids' ``max_episode_steps``). Every env of a batch starts together and so ends
    together. The VectorEnv's ``autoreset_mode`` says what happens next:

    ``SAME_STEP`` (default, like SB3): the step that truncates already returns the first
    observation of the next episode; the last observation and info are in
    ``info["final_obs"]`` / ``info["final_info"]``.

    ``NEXT_STEP`` (Gymnasium's default, what CleanRL-style code and
    ``gymnasium.wrappers.vector.NormalizeObservation`` expect): the truncating step
    returns the last observation; the following ``step`` ignores its actions and returns
    the first observation of the next episode with reward 0 and no flags. The simulator
    has already reset the envs, so no noise is drawn for that step and a policy sees the
    same numbers in either mode.
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
        autoreset_mode: ``SAME_STEP`` (default) or ``NEXT_STEP`` (an ``AutoresetMode``
            or its name), see the module docstring.
        backend: ``numba`` (compiled step, default) or ``numpy`` (reference); same numbers.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    autoreset_modes = (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP)

    def __init__(
        self,
        network: Any,
        num_envs: int = 8,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        backend: str = "numba",
    ):
        self.autoreset_mode = _autoreset_mode(autoreset_mode, self.autoreset_modes)
        # Gymnasium's wrappers read the mode from metadata, TorchRL from the attribute.
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.sim = Simulator(network, num_envs, episode_length, action_mode, seed, backend=backend)
        self.num_envs = self.sim.num_envs
        self.render_mode = render_mode
        self.single_action_space = self.sim.actions.space
        self.single_observation_space = self.sim.layout.space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._mask = np.ones(self.num_envs, dtype=bool)
        # NEXT_STEP: the first observation of the next episode, returned by the next step.
        self._next_episode_obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._next_episode_obs = None
        return self.sim.reset(seed), {}

    def step(self, actions):
        if self._next_episode_obs is not None:
            # NEXT_STEP's reset step: the simulator reset the envs when they truncated.
            obs, self._next_episode_obs = self._next_episode_obs, None
            no = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs), no, no.copy(), {}
        result = self.sim.step(actions)
        reward = result.reward.astype(np.float64)
        info: dict[str, Any] = step_info(result)
        if result.final_obs is not None and self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Episodes start together, so they all end at this step.
            self._next_episode_obs = result.obs
            obs = result.final_obs.copy()
            self._add_masks(info)
            return obs, reward, result.terminated, result.truncated, info
        if result.final_obs is not None:
            done = result.truncated
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = result.final_obs[i]
            info["final_obs"], info["_final_obs"] = final_obs, done
            final_info = {k: v for k, v in info.items() if not k.startswith(("final", "_final"))}
            final_info.update({f"_{k}": done for k in list(final_info)})
            info["final_info"], info["_final_info"] = final_info, done
        self._add_masks(info)
        return result.obs, reward, result.terminated, result.truncated, info

    def _add_masks(self, info: dict[str, Any]) -> None:
        """Gymnasium's vector info convention: ``_<key>`` marks the envs a key is set for."""
        for key in [k for k in info if not k.startswith(("_", "final"))]:
            info[f"_{key}"] = self._mask


def _autoreset_mode(mode: AutoresetMode | str, allowed: tuple[AutoresetMode, ...]) -> AutoresetMode:
    names = {m.name: m for m in allowed} | {m.value: m for m in allowed}
    if isinstance(mode, AutoresetMode) and mode in allowed:
        return mode
    if isinstance(mode, str) and mode in names:
        return names[mode]
    raise ValueError(
        f"autoreset_mode: must be one of {sorted(m.name for m in allowed)}, got {mode!r}"
    )


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
