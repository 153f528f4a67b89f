"""The one simulation loop of a policy over periods: evaluation and tuning both run it.

``rollout`` plays ``policy`` on B envs for ``periods`` periods. It first resets the policy
with the run's noise (``policy.reset(net, B, noise)``). In each period: the policy acts on
the decision-time state, the period's noise comes from ``noise.at(t, state)``, and the
transition (the compiled step) moves the envs on. The cost of every period from
``warmup`` on is summed per env. ``observe(t, state, costs, flows)`` sees each period
after its transition (for KPIs or a recorded trajectory), so callers add what they
measure without writing a loop of their own.

The noise is one source per run (``PeriodNoise``): ``at`` is what the simulation plays,
``ahead`` what a policy may read of the future (the hindsight oracle), from the same
draws. ``StreamNoise`` serves a ``NoiseStream`` period by period (evaluation);
``baselines.tuning`` replays noise drawn once for every candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from baselines.policy_base import Policy
from envs.compiled import transition  # the compiled step; same numbers as envs.transition
from envs.network import Network
from envs.noise import Noise, NoiseStream
from envs.transition import Costs, Flows, State

Observer = Callable[[int, State, Costs, Flows], None]


class PeriodNoise(Protocol):
    """The noise of a run, period by period."""

    def at(self, t: int, state: State) -> Noise:
        """Period t's noise, for the envs in ``state`` (the simulation plays it)."""

    def ahead(self, t: int, count: int) -> list[Noise]:
        """The noise of periods t .. t + count - 1, every env in step, without playing it
        (what a hindsight policy reads; the simulation later plays the same draws)."""


class StreamNoise:
    """A ``NoiseStream`` served period by period and readable ahead.

    Periods read ahead are drawn in order from the stream, kept, and played when their
    turn comes, so a policy that reads the future and the simulation see the same
    draws; without reads ahead each period is drawn when it is played, as the stream
    would alone.
    """

    def __init__(self, stream: NoiseStream):
        self.stream = stream
        self._first = 0  # the period of self._kept[0]
        self._kept: list[Noise] = []

    def at(self, t: int, state: State) -> Noise:
        if t != self._first:
            raise ValueError(f"noise: period {t} played out of turn (next is {self._first})")
        self._first += 1
        return self._kept.pop(0) if self._kept else self.stream.draw(state.period)

    def ahead(self, t: int, count: int) -> list[Noise]:
        if t < self._first:
            raise ValueError(f"noise: period {t} is in the past (next is {self._first})")
        end, drawn = t + count, self._first + len(self._kept)
        if end > drawn:  # NoiseStream.path copies its draws (the stream reuses its buffers)
            self._kept += self.stream.path(end - drawn, drawn)
        return self._kept[t - self._first : end - self._first]


def rollout(
    net: Network,
    policy: Policy,
    state: State,
    noise: PeriodNoise,
    periods: int,
    warmup: int,
    observe: Observer | None = None,
) -> np.ndarray:
    """Long-run average cost per period of each env [B], periods ``warmup`` on."""
    if periods <= warmup:
        raise ValueError(f"periods: must exceed warmup={warmup}, got {periods}")
    policy.reset(net, state.num_envs, noise)
    total = np.zeros(state.num_envs)
    for t in range(periods):
        action = policy.act(state)
        state, costs, flows = transition(net, state, action, noise.at(t, state))
        if observe is not None:
            observe(t, state, costs, flows)
        if t >= warmup:
            total += costs.total
    return total / (periods - warmup)
