"""A trained agent as a batched ``Policy`` (the same interface as every baseline).

``AgentPolicy.act(state)`` builds the observation the training env would show
(``envs.observations.ObservationLayout``), normalises it with the agent's frozen
``VecNormalize`` statistics, asks the SB3 model for its deterministic action and turns it
into quantities with the env's action parametrisation (``envs.actions.ActionMap``). So
``baselines.evaluation.evaluate(net, AgentPolicy(...))`` measures an agent on common random
numbers exactly as it measures a base-stock policy.

Recurrent agents (sb3-contrib ``RecurrentPPO``) carry their LSTM state from one ``act``
call to the next; ``reset`` starts new episodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from baselines.policy_base import Policy
from baselines.rollout import PeriodNoise
from envs.actions import ActionMap
from envs.network import Network
from envs.observations import ObservationLayout
from envs.transition import State


class AgentPolicy(Policy):
    """Deterministic order/transfer quantities [B, E] of a trained SB3 agent.

    Args:
        model: the SB3 model.
        vecnormalize: its observation statistics (None when trained without VecNormalize);
            only read, never updated.
        net: the network the agent acts on.
        action_mode: the env's action parametrisation (``order_up_to``, ``quantity``, ...).
    """

    @classmethod
    def from_run(cls, run_dir: str | Path, checkpoint: str | int = "best") -> AgentPolicy:
        """The agent saved by a training run (``best``, ``final``, ``last`` or a timestep),
        rebuilt from the run's config; ``.net`` is the network it was trained on."""
        from agents.runs import load_run_policy  # agents.runs builds on this module

        policy, _ = load_run_policy(run_dir, checkpoint)
        if not isinstance(policy, cls):
            raise ValueError(f"policy.run: {str(run_dir)!r} holds a {type(policy).__name__}")
        return policy

    def __init__(
        self,
        model: BaseAlgorithm,
        vecnormalize: VecNormalize | None,
        net: Network,
        action_mode: str = "order_up_to",
    ):
        self.model = model
        self.vecnormalize = vecnormalize
        self.net = net
        self.layout = ObservationLayout(net)
        self.actions = ActionMap(net, action_mode)
        self.recurrent = hasattr(model.policy, "lstm_actor")
        self._lstm_state: tuple[np.ndarray, ...] | None = None
        self._episode_start: np.ndarray | None = None

    def reset(self, net: Network, num_envs: int, noise: PeriodNoise | None) -> None:
        """Begin new episodes: forget the LSTM state."""
        self._lstm_state = None
        self._episode_start = None

    def observe(self, state: State) -> np.ndarray:
        """The (normalised) observation the model sees for ``state``."""
        obs = self.layout.build(state)
        if self.vecnormalize is not None:
            obs = self.vecnormalize.normalize_obs(obs)
        return obs

    def predict(self, state: State) -> np.ndarray:
        """The model's deterministic action for ``state`` (before the action map)."""
        obs = self.observe(state)
        if not self.recurrent:
            action, _ = self.model.predict(obs, deterministic=True)
            return action
        b = obs.shape[0]
        if self._episode_start is None or self._episode_start.shape[0] != b:
            self._lstm_state, self._episode_start = None, np.ones(b, dtype=bool)
        action, self._lstm_state = self.model.predict(
            obs, state=self._lstm_state, episode_start=self._episode_start, deterministic=True
        )
        self._episode_start = np.zeros(b, dtype=bool)
        return action

    def act(self, state: State) -> np.ndarray:
        return self.actions.to_quantities(self.predict(state), state)

    def describe(self) -> dict:
        return {
            "policy": type(self.model).__name__,
            "timesteps": int(self.model.num_timesteps),
            "action_mode": self.actions.mode,
            "recurrent": self.recurrent,
        }
