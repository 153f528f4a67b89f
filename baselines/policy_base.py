"""The one interface every policy implements: baselines, exact policies, learned agents.

``baselines.evaluation.evaluate`` (and tuning, the benchmark, the callbacks) only ever
call these three methods, so a new policy is measured like every other one by
subclassing ``Policy``:

- ``act(state)``: order/transfer quantities per lane [B, E] for the decision-time states
  of B envs (``envs.transition.State``); whole units, clipped by the simulator;
- ``reset(net, num_envs, noise)``: new episodes start on the run's noise
  (``baselines.rollout.PeriodNoise``; a recurrent policy forgets its memory, the
  hindsight oracle keeps the noise to read ahead in it; stateless policies keep the
  default);
- ``describe()``: the policy's parameters and where they came from, JSON-friendly (what
  results.json and the logs show).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.network import Network
from envs.transition import State

if TYPE_CHECKING:  # the rollout imports Policy
    from baselines.rollout import PeriodNoise


class Policy(ABC):
    """A batched policy: quantities per lane [B, E] for the states of B envs."""

    @abstractmethod
    def act(self, state: State) -> np.ndarray:
        """Quantities per lane [B, E] for the decision-time states of B envs."""

    def reset(self, net: Network, num_envs: int, noise: PeriodNoise | None) -> None:  # noqa: B027
        """New episodes start for ``num_envs`` envs on ``noise`` (the run's noise, which
        ``rollout`` passes); a stateless policy has nothing to reset."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Parameters and their provenance, as JSON-friendly values."""
