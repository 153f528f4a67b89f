"""A native stable-baselines3 ``VecEnv`` over the batched simulator.

SB3 does not accept a Gymnasium ``VectorEnv``; this adapter meets SB3's contract
(the one ``DummyVecEnv`` shows) without wrapping single envs: ``reset()`` returns the
observation only, ``step_wait()`` returns ``(obs, rewards, dones, infos)`` with the
same-step reset, and each finished env's info has ``terminal_observation`` and
``TimeLimit.truncated`` (always True: inventory episodes end by truncation, so SB3
bootstraps from the terminal observation).

Per-env info dicts are kept small (building B dicts per step is the one per-env
loop SB3 forces on us); the full cost breakdown and flows of the last step are in
``last_info`` (arrays with the batch axis first), which callbacks read through
``get_attr("last_info")``. Its arrays are the simulator's reused step buffers
(``Simulator(reuse_buffers=True)``): valid for this step and the next, then overwritten;
copy what must be kept longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from envs.simulator import Simulator, SimulatorView, step_info


class InventoryNetworkSB3VecEnv(SimulatorView, VecEnv):
    """B inventory networks as an SB3 ``VecEnv`` (same arguments as ``Simulator``)."""

    def __init__(
        self,
        network: Any,
        num_envs: int = 8,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
        backend: str = "numba",
    ):
        # SB3 copies what it keeps (observations into its buffers, KPIs into sums), so the
        # step's arrays are reused; ``last_info`` is overwritten two steps later.
        self.sim = Simulator(
            network,
            num_envs,
            episode_length,
            action_mode,
            seed,
            backend=backend,
            reuse_buffers=True,
        )
        self.render_mode = None
        self.last_info: dict[str, np.ndarray] = {}
        self._actions: np.ndarray | None = None
        super().__init__(self.sim.num_envs, self.sim.layout.space, self.sim.actions.space)

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        self._reset_seeds()
        self._reset_options()
        return self.sim.reset(seed)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        result = self.sim.step(self._actions)
        self.last_info = step_info(result)
        dones = result.terminated | result.truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in dones.nonzero()[0]:
            infos[i]["terminal_observation"] = result.final_obs[i]
            infos[i]["TimeLimit.truncated"] = bool(result.truncated[i] and not result.terminated[i])
        return result.obs, result.reward.astype(np.float32, copy=False), dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
