"""The batched simulator that every front end wraps: state, noise, action map, clock.

``Simulator`` owns B envs of one network. Its ``step`` applies the action
parametrisation, draws this period's noise, calls the pure ``transition``, and
resets envs whose episode ended — in exactly one place, by a masked select
(``State.select``) — so the Gymnasium VectorEnv, the single Env and the SB3
VecEnv adapter all share one behaviour.

Two backends give the same numbers bit for bit: ``numba`` (default) runs the whole step
(action map, transition, autoreset, observation) as one compiled pass
(``envs.compiled``); ``numpy`` runs the readable reference modules one call at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.actions import ActionMap
from envs.compiled import BACKENDS, CompiledStep, StepBuffers
from envs.network import Network, build_network
from envs.noise import NoiseStream
from envs.observations import ObservationLayout
from envs.transition import Costs, Flows, initial_state, transition


@dataclass
class StepResult:
    """What one batched step produced.

    ``obs`` is the observation after any same-step reset; ``final_obs`` the observation
    of the last state of the episodes that just ended (rows where ``truncated``).
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    costs: Costs
    flows: Flows
    final_obs: np.ndarray | None
    info: dict[str, np.ndarray] | None = None
    """``step_info`` of this result, when the simulator keeps it (reused buffers)."""


class Simulator:
    """B envs of one inventory network with a fixed episode length.

    Args:
        network: a ``Network`` or a network config (dict / OmegaConf / ``NetworkConfig``).
        num_envs: B.
        episode_length: periods per episode; the end of an episode is a truncation
            (inventory problems are infinite-horizon).
        action_mode: ``order_up_to`` (default), ``quantity``, ``discrete`` or ``raw``.
        seed: root seed of the per-env noise streams.
        first_env: stream index of env 0 (a single env can replay env i of a batch).
        dtype: float type of the state and costs. float32 (default) halves the memory
            traffic of a step; quantities are whole units, exact in float32 up to 2**24,
            and costs carry float32 rounding (~1e-7 relative). Use float64 for exact sums.
        backend: ``numba`` (default, the compiled step of ``envs.compiled``) or ``numpy``
            (the reference modules); both give the same numbers, on every network
            (zones, landed costs, outages and several SKUs included).
        reuse_buffers: with the ``numba`` backend, write each step into one of two sets of
            arrays allocated once, in turn, instead of fresh ones: a step's costs, flows
            and info stay valid until the step after next, and are then overwritten
            (``obs``, ``reward`` and ``final_obs`` are always new). For a front end whose
            consumer copies what it keeps (the SB3 VecEnv); the same numbers either way.
    """

    def __init__(
        self,
        network: Network | Any,
        num_envs: int = 1,
        episode_length: int = 200,
        action_mode: str = "order_up_to",
        seed: int | None = None,
        first_env: int = 0,
        dtype: np.dtype = np.float32,
        backend: str = "numba",
        reuse_buffers: bool = False,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs: must be >= 1, got {num_envs!r}")
        if int(episode_length) < 1:
            raise ValueError(f"episode_length: must be >= 1, got {episode_length!r}")
        self.net = network if isinstance(network, Network) else build_network(network)
        self.num_envs = int(num_envs)
        self.episode_length = int(episode_length)
        self.first_env = first_env
        self.actions = ActionMap(self.net, action_mode)
        self.layout = ObservationLayout(self.net)
        self.noise = NoiseStream(self.net, self.num_envs, seed, first_env)
        self.dtype = np.dtype(dtype)
        self.state = initial_state(self.net, self.num_envs, self.dtype)
        self._fresh = initial_state(self.net, self.num_envs, self.dtype)
        self._no = np.zeros(self.num_envs, dtype=bool)
        if backend not in BACKENDS:
            raise ValueError(f"backend: must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self._compiled = (
            CompiledStep(self.net, self.dtype, self.actions, self.layout, self.episode_length)
            if self.backend == "numba"
            else None
        )
        # Two sets, each with its info dict (views of its arrays, so built once); a step
        # writes into the set that does not hold the state it reads.
        self._buffers: list[tuple[StepBuffers, dict[str, np.ndarray]]] | None = None
        if reuse_buffers and self._compiled is not None:
            sets = [self._compiled.buffers(self.num_envs) for _ in range(2)]
            self._buffers = [(out, info_of(out.costs, out.flows)) for out in sets]

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start every env's episode; with ``seed``, restart the noise streams too."""
        if seed is not None:
            self.noise.seed(seed, self.first_env)
        self.state = initial_state(self.net, self.num_envs, self.dtype)
        return self.layout.build(self.state)

    def step(self, action: np.ndarray) -> StepResult:
        if self._compiled is not None:
            return self._step_compiled(action)
        state = self.state
        quantities = self.actions.to_quantities(action, state)
        noise = self.noise.draw(state.period)
        state, costs, flows = transition(self.net, state, quantities, noise)
        truncated = state.period >= self.episode_length
        final_obs = None
        if truncated.any():
            final_obs = self.layout.build(state)
            state = state.select(truncated, self._fresh)
        self.state = state
        return StepResult(
            obs=self.layout.build(state),
            reward=-costs.total,
            terminated=self._no.copy(),
            truncated=truncated,
            costs=costs,
            flows=flows,
            final_obs=final_obs,
        )

    def _step_compiled(self, action: np.ndarray) -> StepResult:
        # The same checks as the numpy path (ActionMap.check), before the noise is drawn.
        action = self.actions.check(action, self.num_envs)
        # The kernel draws this period's noise from the streams' uniforms itself.
        out, info = None, None
        if self._buffers is not None:
            first, second = self._buffers  # write into the set not holding this state
            out, info = second if self.state is first[0].state else first
        step = self._compiled(self.state, action, self.noise, out)
        state, costs, flows, truncated, obs, final_obs = step
        self.state = state
        return StepResult(
            obs=obs,
            reward=-costs.total,
            terminated=self._no.copy(),
            truncated=truncated,
            costs=costs,
            flows=flows,
            final_obs=final_obs,
            info=info,
        )


class SimulatorView:
    """What every front end exposes of the ``Simulator`` it wraps (as ``self.sim``)."""

    sim: Simulator

    @property
    def net(self) -> Network:
        """The validated network."""
        return self.sim.net

    @property
    def observation_names(self) -> list[str]:
        """The name of every observation entry (see ``envs.observations``)."""
        return self.sim.layout.names


def step_info(result: StepResult) -> dict[str, np.ndarray]:
    """Per-step info as arrays with the batch axis first: ``cost/<component>`` [B] and the
    flows [B, D], [B, E] or [B, N] (see ``envs.transition.Flows``)."""
    if result.info is not None:
        return result.info
    return info_of(result.costs, result.flows)


def info_of(costs: Costs, flows: Flows) -> dict[str, np.ndarray]:
    """The info dict of a step's costs and flows (``step_info``)."""
    info: dict[str, np.ndarray] = {f"cost/{k}": v for k, v in costs.as_dict().items()}
    f = flows
    info.update(
        demand=f.demand,
        sales=f.sales,
        filled=f.filled,
        lost=f.lost,
        backlog=f.backlog,
        shipped=f.shipped,
        received=f.received,
        clipped=f.clipped,
        overflow=f.overflow,
    )
    if f.fulfilled is not None:
        info.update(fulfilled=f.fulfilled, zone_lead_time=f.zone_lead_time)
    if f.held is not None:
        info.update(held=f.held)
    return info
