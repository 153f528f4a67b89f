"""Exogenous randomness of each period, sampled apart from the dynamics.

Env i draws from its own random stream, ``PCG64(SeedSequence(seed, spawn_key=(i,)))``,
so its trajectory does not depend on how many envs run beside it, and two
``NoiseStream``s built with the same seed give the same demand and lead-time
scenarios: run several policies through them and they are compared on common
random numbers. Uniforms are drawn per env in blocks of periods (every env's block
in one compiled call, ``envs.pcg64``: numpy's PCG64 doubles), then turned into demands
and lead times for the whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.network import Network
from envs.pcg64 import fill_uniforms, stream_states


@dataclass
class Noise:
    """The randomness of one period for B envs.

    Attributes:
        demand: customer demand at each demand node [B, D] (whole units).
        lead_time: lead time of a shipment placed this period on each lane [B, E].
        node_disruption: uniforms [B, N] that drive the nodes' up/down process, or None.
        lane_disruption: uniforms [B, E] that drive the lanes' up/down process, or None.
    """

    demand: np.ndarray
    lead_time: np.ndarray
    node_disruption: np.ndarray | None = None
    lane_disruption: np.ndarray | None = None


BUFFER_UNIFORMS = 2**22  # uniforms buffered per stream at most by default (32 MiB)


class NoiseStream:
    """Per-env random streams for a network.

    Args:
        net: the network whose demand and lead times are drawn.
        num_envs: B, the number of envs.
        seed: root seed; env i uses ``SeedSequence(seed, spawn_key=(first_env + i,))``.
        first_env: index of the first env (lets a sub-batch reproduce envs of a larger one).
        block: periods of uniforms drawn per env per generator call; by default 128, fewer
            when the buffer of B x block x width uniforms would pass ``BUFFER_UNIFORMS``
            (a 10,000-node network). Each env's stream is consumed in the same order
            whatever the block, so the draws do not depend on it.
    """

    def __init__(
        self,
        net: Network,
        num_envs: int,
        seed: int | None = 0,
        first_env: int = 0,
        block: int | None = None,
    ):
        self.net = net
        self.num_envs = num_envs
        self._stochastic_lanes = net.stochastic_lanes
        self._n_demand = 0 if net.demand.trace is not None else net.num_demand_nodes
        self._n_lead = len(self._stochastic_lanes)
        self._n_disrupt = net.num_nodes + net.num_lanes if net.has_disruptions else 0
        self.width = self._n_demand + self._n_lead + self._n_disrupt
        if block is None:
            block = int(np.clip(BUFFER_UNIFORMS // max(1, num_envs * self.width), 1, 128))
        self.block = block
        # Lead-time supports are short: count the CDF steps each uniform passes, one
        # comparison per support point (padding steps at 2.0 are never passed).
        lanes = self._stochastic_lanes
        width = max((len(net.lead_times[e].support) for e in lanes), default=1)
        self._lead_steps = np.full((width - 1, len(lanes)), 2.0)
        self._lead_support = np.zeros((len(lanes), width), dtype=np.int64)
        for i, e in enumerate(lanes):
            lt = net.lead_times[e]
            self._lead_steps[: len(lt.support) - 1, i] = np.cumsum(lt.probs)[:-1]
            self._lead_support[i] = lt.support[-1]
            self._lead_support[i, : len(lt.support)] = lt.support
        self._lead_flat_base = np.arange(len(lanes)) * width
        # Deterministic lead times never change: one array, reused every period.
        self._base_lead_time = np.broadcast_to(
            net.lead_time_support[:, 0], (num_envs, net.num_lanes)
        ).copy()
        self.seed(seed, first_env)

    def seed(self, seed: int | None, first_env: int = 0) -> None:
        """(Re)start every env's stream from ``seed``."""
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.root_seed = seed
        # Each env's PCG64 state, stepped by compiled code (envs.pcg64: numpy's doubles).
        self._states = stream_states(seed, first_env, self.num_envs)
        # Period-major, env axis last: a period's uniforms are one contiguous [width, B] block.
        self._buffer = np.empty((self.block, self.width, self.num_envs))
        self._cursor = self.block

    def _refill(self) -> None:
        # Uniforms of exactly 0 would map below every table entry; nudge them in.
        if self.width:
            fill_uniforms(self._states, self._buffer, np.finfo(float).tiny)
        self._cursor = 0

    def next_uniforms(self) -> np.ndarray:
        """Advance every stream by one period: this period's uniforms [width, B], env axis
        last and contiguous (a view of the buffer; ``envs.compiled`` reads it in place)."""
        if self._cursor >= self.block:
            self._refill()
        self._cursor += 1
        return self._buffer[self._cursor - 1]

    @property
    def num_demand_uniforms(self) -> int:
        """Uniforms per period that drive demand (the first of each row; 0 for a trace)."""
        return self._n_demand

    @property
    def lead_time_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """How uniforms become lead times: (stochastic lanes [S], CDF steps [W-1, S],
        supports [S, W], the lead time of every lane when deterministic [E])."""
        return (
            self._stochastic_lanes.astype(np.int64),
            self._lead_steps,
            self._lead_support,
            np.ascontiguousarray(self.net.lead_time_support[:, 0], dtype=np.int64),
        )

    def draw(self, period: np.ndarray) -> Noise:
        """The next period's noise for every env, given each env's period index [B]."""
        u = self.next_uniforms().T  # [B, width]
        net = self.net
        demand = net.demand.draw(u[:, : self._n_demand], period)
        lead_time = self._base_lead_time
        if self._n_lead:
            lead_time = lead_time.copy()
            lanes = self._stochastic_lanes
            lu = u[:, self._n_demand : self._n_demand + self._n_lead]
            k = np.zeros(lu.shape, dtype=np.int64)
            for step in self._lead_steps:
                k += lu >= step
            lead_time[:, lanes] = self._lead_support.reshape(-1)[self._lead_flat_base + k]
        node_u = lane_u = None
        if self._n_disrupt:
            start = self._n_demand + self._n_lead
            node_u = u[:, start : start + net.num_nodes]
            lane_u = u[:, start + net.num_nodes :]
        return Noise(demand, lead_time, node_u, lane_u)

    def path(self, periods: int, start_period: int = 0) -> list[Noise]:
        """The next ``periods`` periods of noise (for oracles and tests), envs in step."""
        period = np.full(self.num_envs, start_period)
        out = []
        for t in range(periods):
            noise = self.draw(period + t)
            out.append(
                Noise(
                    noise.demand.copy(),
                    noise.lead_time.copy(),
                    None if noise.node_disruption is None else noise.node_disruption.copy(),
                    None if noise.lane_disruption is None else noise.lane_disruption.copy(),
                )
            )
        return out
