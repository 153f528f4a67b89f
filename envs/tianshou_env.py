"""A Tianshou ``Collector``-compatible vector env over the batched simulator.

Tianshou 2's ``Collector`` drives a ``BaseVectorEnv`` (a list of single envs behind
workers). invnet's batch is one simulator, so this adapter meets the part of that
contract the synchronous ``Collector`` uses, without wrapping single envs:

- ``len(env)`` is B; ``action_space`` / ``observation_space`` are lists of B spaces;
- ``step(action, id)`` returns ``(obs, rew, terminated, truncated, info)`` for the
  envs in ``id`` (all of them: the envs of a batch step in lock-step, see below), where
  a finished env's ``obs`` is the last observation of its episode;
- ``reset(env_id)`` returns the first observation of the finished envs' next episode.

Every env of a batch starts together and so ends together, which is why ``step``
takes the whole batch: collect with ``n_step`` a multiple of B, or ``n_episode`` a
multiple of B. The simulator resets finished envs as it steps, so ``reset(env_id)``
draws nothing and the numbers are those of the Gymnasium and SB3 front ends for the
same seed. ``info`` is a dict of arrays (batch axis first), which the Collector
accepts. Rewards are float64, as from the Gymnasium VectorEnv.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.simulator import Simulator, SimulatorView, step_info


class InventoryNetworkTianshouEnv(SimulatorView):
    """B inventory networks for ``tianshou.data.Collector`` (same arguments as ``Simulator``)."""

    is_async = False
    """The Collector's synchronous path: every env answers every step."""

    def __init__(
        self,
        network: Any,
        num_envs: int = 8,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
    ):
        self.sim = Simulator(network, num_envs, episode_length, action_mode, seed)
        self.num_envs = self.sim.num_envs
        self.action_space = [self.sim.actions.space] * self.num_envs
        self.observation_space = [self.sim.layout.space] * self.num_envs
        self.waiting_id: list[int] = []
        self._next_episode_obs: np.ndarray | None = None

    def __len__(self) -> int:
        return self.num_envs

    def reset(
        self, env_id: int | list[int] | np.ndarray | None = None, **kwargs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """All envs (``env_id`` None, ``seed`` optional) or the envs whose episode just ended.

        The info is one empty dict per env (an object array, as ``BaseVectorEnv`` returns).
        """
        if env_id is None:
            self._next_episode_obs = None
            return self.sim.reset(kwargs.get("seed")), _empty_infos(self.num_envs)
        ids = np.atleast_1d(np.asarray(env_id, dtype=np.int64))
        if self._next_episode_obs is None:
            raise ValueError(f"env_id: envs {ids.tolist()} have not finished an episode")
        return self._next_episode_obs[ids], _empty_infos(len(ids))

    def step(
        self, action: np.ndarray, id: int | list[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        if id is not None and len(np.atleast_1d(id)) != self.num_envs:
            raise ValueError(
                f"id: the envs of a batch step together; got {len(np.atleast_1d(id))} of "
                f"{self.num_envs} (collect n_step or n_episode as a multiple of num_envs)"
            )
        result = self.sim.step(np.asarray(action))
        obs = result.obs
        self._next_episode_obs = None
        if result.final_obs is not None:
            self._next_episode_obs = result.obs
            obs = np.where(result.truncated[:, None], result.final_obs, result.obs)
        info = step_info(result)
        reward = result.reward.astype(np.float64)
        return obs, reward, result.terminated, result.truncated, info

    def render(self, **kwargs: Any) -> list[None]:
        return [None] * self.num_envs

    def close(self) -> None:
        pass


def _empty_infos(n: int) -> np.ndarray:
    infos = np.empty(n, dtype=object)
    infos[:] = [{} for _ in range(n)]
    return infos
