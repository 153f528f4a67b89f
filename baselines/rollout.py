"""The one simulation loop of a policy over periods: evaluation and tuning both run it.

``rollout`` plays ``policy`` on B envs for ``periods`` periods. In each period: the
policy acts on the decision-time state, the period's noise comes from ``noise_at(t,
state)``, and the transition (the compiled step) moves the envs on. The cost of every
period from ``warmup`` on is summed per env. ``observe(t, state, costs, flows)`` sees
each period after its transition (for KPIs or a recorded trajectory), so callers add what
they measure without writing a loop of their own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from baselines.policy_base import Policy
from envs.compiled import transition  # the compiled step; same numbers as envs.transition
from envs.network import Network
from envs.noise import Noise
from envs.transition import Costs, Flows, State

Observer = Callable[[int, State, Costs, Flows], None]


def rollout(
    net: Network,
    policy: Policy,
    state: State,
    noise_at: Callable[[int, State], Noise],
    periods: int,
    warmup: int,
    observe: Observer | None = None,
) -> np.ndarray:
    """Long-run average cost per period of each env [B], periods ``warmup`` on."""
    if periods <= warmup:
        raise ValueError(f"periods: must exceed warmup={warmup}, got {periods}")
    total = np.zeros(state.num_envs)
    for t in range(periods):
        action = policy.act(state)
        state, costs, flows = transition(net, state, action, noise_at(t, state))
        if observe is not None:
            observe(t, state, costs, flows)
        if t >= warmup:
            total += costs.total
    return total / (periods - warmup)
