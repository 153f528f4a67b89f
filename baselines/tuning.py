"""Parameters computed or tuned, never guessed.

``tune_policy(policy_class, net, ...)`` gives a node policy (``baselines.policies``) its
parameters:

1. Exact where theory applies (``policies.computed_parameters``): single backlog node —
   newsvendor base-stock level, Zheng–Federgruen (s, S); serial backlog system —
   Chen–Zheng echelon levels. No simulation then.
2. Otherwise a simulation search on the batched simulator with **common random numbers**:
   every candidate is simulated on the same pre-drawn noise (the same seed), so the
   comparison between candidates carries no sampling noise of its own. Candidates are
   stacked along the batch axis — C candidates × B replications run as one batch of C·B
   envs, the policy's parameters given per env — so a whole neighbourhood costs one
   simulation. The search is integer-aware:

   - one or two parameters in all: exhaustive search on a grid around the computed start,
     moved while the best point lies on its edge;
   - more: coordinate (compass) search from the newsvendor-style start, with step sizes
     8, 4, 2, 1 (Kolda, Lewis & Torczon 2003, "Optimization by direct search", SIAM Review
     45(3)): evaluate the 2P neighbours x ± step·e_i (and the move combining every
     improving coordinate) at once, move to the best while it improves, then halve.

   A transfer rule's continuous thresholds (``low_days``, ``high_days``) are then chosen on a
   grid with the replenishment parameters fixed.
3. The winner is re-evaluated on **fresh** noise (``seed + 1``) with
   ``baselines.evaluation.evaluate``, and that cost and its 95% confidence interval are
   reported: the search cost is optimistically biased (the minimum of noisy estimates).
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baselines.evaluation import evaluate
from baselines.parameters import Computed, computed_parameters
from baselines.policies import NodePolicy
from baselines.rollout import rollout
from baselines.transfers import Rebalance, WithTransfers
from envs.network import Network
from envs.noise import Noise, NoiseStream
from envs.schema import field_error
from envs.transition import State, initial_state

log = logging.getLogger(__name__)

__all__ = [
    "CommonNoise",
    "TuneBudget",
    "TuneResult",
    "batch_costs",
    "coordinate_search",
    "exhaustive_search",
    "tune_policy",
]

STEPS = (8, 4, 2, 1)


@dataclass
class TuneBudget:
    """How much simulation a search may use.

    Attributes:
        envs: replications per candidate (the same noise streams for every candidate).
        periods: periods per replication during the search, warm-up included.
        warmup: periods left out of the search cost.
        batch_envs: most envs simulated at once (candidates × envs per batch).
        eval_envs, eval_periods, eval_warmup: the re-evaluation of the winner on fresh noise.
        max_iterations: cap on moves per step size of the coordinate search.
        progress: a progress bar on stderr (None: on a terminal; otherwise log lines).
    """

    envs: int = 256
    periods: int = 300
    warmup: int = 100
    batch_envs: int = 2048
    eval_envs: int = 256
    eval_periods: int = 1000
    eval_warmup: int = 200
    max_iterations: int = 30
    progress: bool | None = None

    @classmethod
    def from_mapping(cls, values: Any) -> TuneBudget:
        """From a mapping with any of the fields (unknown keys other than ``seed`` raise)."""
        values = dict(values or {})
        values.pop("seed", None)
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"tune: unknown budget keys {sorted(unknown)}; known: "
                f"{sorted(cls.__dataclass_fields__)} and seed"
            )
        return cls(**values)

    def __post_init__(self) -> None:
        """The budget's checks, one place for a budget built in Python or from a config
        (``experiments.params.TuneConfig``); the error names the field."""
        least = {"envs": 2, "eval_envs": 2, "batch_envs": 1, "max_iterations": 1}
        least.update(warmup=0, eval_warmup=0)
        for name, minimum in least.items():
            if getattr(self, name) < minimum:
                value = getattr(self, name)
                raise field_error(name, f"must be at least {minimum}, got {name}={value}")
        for prefix in ("", "eval_"):
            periods, warmup = getattr(self, f"{prefix}periods"), getattr(self, f"{prefix}warmup")
            if periods <= warmup:
                raise field_error(
                    f"{prefix}warmup",
                    f"{prefix}warmup={warmup} must be less than {prefix}periods={periods}",
                )


@dataclass
class TuneResult:
    """Outcome of ``tune_policy``.

    Attributes:
        params: the parameter vectors by name (per ordering node).
        method: how they were obtained (``exact: ...`` or ``search: ...``).
        search_cost: cost of the winner on the search noise (None when exact).
        cost_mean, cost_ci95: the winner re-evaluated on fresh noise (seed + 1).
        evaluations: candidates simulated.
        seconds: wall time of the whole tuning.
        transfers: tuned transfer thresholds, if a rule was tuned.
    """

    params: dict[str, np.ndarray]
    method: str
    search_cost: float | None
    cost_mean: float
    cost_ci95: float
    evaluations: int
    seconds: float
    seed: int
    transfers: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready record of the tuning."""
        return {
            "method": self.method,
            "search_cost": self.search_cost,
            "fresh_cost_mean": self.cost_mean,
            "fresh_cost_ci95": self.cost_ci95,
            "evaluations": self.evaluations,
            "seconds": round(self.seconds, 3),
            "search_seed": self.seed,
            "fresh_seed": self.seed + 1,
            **({"transfers": self.transfers} if self.transfers else {}),
        }


# --------------------------------------------------------------------------------------------
# many candidates on common random numbers, in one batch
# --------------------------------------------------------------------------------------------


class CommonNoise:
    """The noise of ``envs`` replications over ``periods``, drawn once from ``seed`` (the same
    streams as ``evaluate(..., num_envs=envs, seed=seed)``) and replayed for every
    candidate."""

    def __init__(self, net: Network, envs: int, periods: int, seed: int):
        self.envs = envs
        self.path = NoiseStream(net, envs, seed).path(periods)

    def tiled(self, t: int, copies: int) -> Noise:
        """Period t's noise for ``copies`` candidates side by side [copies * envs, ...]."""
        n = self.path[t]

        def tile(x):
            return None if x is None else np.tile(x, (copies, 1))

        return Noise(
            tile(n.demand),
            tile(n.lead_time),
            tile(n.node_disruption),
            tile(n.lane_disruption),
        )


class TiledNoise:
    """``copies`` candidates side by side on the same ``CommonNoise`` (the rollout's
    ``PeriodNoise``)."""

    def __init__(self, noise: CommonNoise, copies: int):
        self.noise, self.copies = noise, copies

    def at(self, t: int, state: State) -> Noise:
        return self.noise.tiled(t, self.copies)

    def ahead(self, t: int, count: int) -> list[Noise]:
        if t + count > len(self.noise.path):
            raise ValueError(
                f"tuning noise: holds {len(self.noise.path)} periods, asked up to {t + count}"
            )
        return [self.noise.tiled(k, self.copies) for k in range(t, t + count)]


def batch_costs(
    net: Network,
    build: Callable[[np.ndarray], Any],
    candidates: np.ndarray,
    noise: CommonNoise,
    warmup: int,
    batch_envs: int = 2048,
) -> np.ndarray:
    """Long-run average cost per period of each candidate [C] on the common noise.

    ``build(rows)`` makes a policy for ``rows`` [C' * envs, P]: candidate c's parameters
    repeated for its ``envs`` replications. The cost of a candidate is exactly what
    ``evaluate`` reports for it with the same seed, envs and periods.
    """
    candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
    per_batch = max(1, batch_envs // noise.envs)
    out = np.empty(len(candidates))
    periods = len(noise.path)
    for start in range(0, len(candidates), per_batch):
        chunk = candidates[start : start + per_batch]
        copies = len(chunk)
        policy = build(np.repeat(chunk, noise.envs, axis=0))
        state = initial_state(net, copies * noise.envs)
        per_env = rollout(net, policy, state, TiledNoise(noise, copies), periods, warmup)
        out[start : start + copies] = per_env.reshape(copies, -1).mean(1)
    return out


class _Objective:
    """Cached cost of integer candidates (each point is simulated once)."""

    def __init__(self, cost: Callable[[np.ndarray], np.ndarray], feasible, bar=None):
        self.cost = cost
        self.feasible = feasible
        self.cache: dict[tuple, float] = {}
        self.bar = bar

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(points)
        keys = [tuple(p.tolist()) for p in points]
        ok = self.feasible(points)
        todo = [i for i, k in enumerate(keys) if k not in self.cache and ok[i]]
        if todo:
            values = self.cost(points[todo])
            for i, v in zip(todo, values):
                self.cache[keys[i]] = float(v)
            if self.bar is not None:
                self.bar.update(len(todo))
        return np.array(
            [self.cache.get(k, np.inf) if ok[i] else np.inf for i, k in enumerate(keys)]
        )


def exhaustive_search(
    objective: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    lower: np.ndarray,
    width: np.ndarray,
    max_moves: int = 8,
) -> tuple[np.ndarray, float]:
    """Best point of the integer grid ``start ± width`` (clipped at ``lower``); while the best
    lies on an edge that is not a lower bound, re-centre the grid there and search again."""
    centre = np.asarray(start, dtype=float)
    best, best_cost = centre, np.inf
    for _ in range(max_moves):
        axes = [np.arange(max(lo, c - w), c + w + 1) for c, lo, w in zip(centre, lower, width)]
        grid = np.array(list(itertools.product(*axes)), dtype=float)
        costs = objective(grid)
        i = int(np.argmin(costs))
        best, best_cost = grid[i], float(costs[i])
        on_edge = [(b == ax[0] and b > lo) or b == ax[-1] for b, ax, lo in zip(best, axes, lower)]
        if not any(on_edge):
            break
        centre = best
    return best, best_cost


def coordinate_search(
    objective: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    lower: np.ndarray,
    steps: tuple[int, ...] = STEPS,
    max_iterations: int = 30,
) -> tuple[np.ndarray, float]:
    """Integer compass search: for each step size, move to the best of the 2P neighbours
    x ± step·e_i (or to the point combining every improving coordinate move) while that
    strictly lowers the cost; then shrink the step."""
    x = np.maximum(np.asarray(start, dtype=float), lower)
    fx = float(objective(x[None])[0])
    p = len(x)
    for step in steps:
        for _ in range(max_iterations):
            moves = np.concatenate([np.eye(p) * step, -np.eye(p) * step])
            neighbours = np.maximum(x + moves, lower)
            costs = objective(neighbours)
            gain = fx - costs
            # The combined move: per coordinate, the better improving direction.
            combined = x.copy()
            for i in range(p):
                up, down = gain[i], gain[p + i]
                if max(up, down) > 0:
                    combined[i] = neighbours[i if up >= down else p + i][i]
            candidates, values = neighbours, costs
            if np.sum(gain > 0) > 1:
                candidates = np.vstack([neighbours, combined])
                values = np.append(costs, objective(combined[None])[0])
            i = int(np.argmin(values))
            if not values[i] < fx:
                break
            x, fx = candidates[i], float(values[i])
    return x, fx


# --------------------------------------------------------------------------------------------
# tuning a policy
# --------------------------------------------------------------------------------------------


def _progress(total: int | None, desc: str, enabled: bool | None):
    """A tqdm bar on a terminal; otherwise a log line every ``_LogProgress.every`` seconds
    (so a piped or logged run still shows that tuning is alive). ``enabled=False``: quiet."""
    if enabled is None:
        enabled = sys.stderr.isatty()
        if not enabled:
            return _LogProgress(desc)
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cand", leave=False, file=sys.stderr)


class _LogProgress:
    """The part of tqdm's interface the search uses (``update``, ``close``), as log lines."""

    every = 10.0  # seconds between lines

    def __init__(self, desc: str):
        self.desc = desc
        self.count = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            log.info("%s: %d candidates simulated, %.0f s", self.desc, self.count, now - self.start)

    def close(self) -> None:
        log.info(
            "%s: done, %d candidates in %.1f s",
            self.desc,
            self.count,
            time.monotonic() - self.start,
        )


def _split(policy_class: type, rows: np.ndarray, size: int) -> dict[str, np.ndarray]:
    return {name: rows[:, i * size : (i + 1) * size] for i, name in enumerate(policy_class.PARAMS)}


def tune_policy(
    policy_class: type[NodePolicy],
    net: Network,
    *,
    start: dict[str, Any] | None = None,
    rule: Any = None,
    budget: TuneBudget | None = None,
    seed: int = 0,
) -> TuneResult:
    """Parameters of ``policy_class`` on ``net``: exact where theory applies, else searched
    by simulation on common random numbers from ``start`` (default: the computed start),
    then re-evaluated on fresh noise (see module docstring).

    Args:
        policy_class: a ``NodePolicy`` subclass (``BaseStock``, ``SS``, ...).
        net: the network.
        start: parameter vectors to start the search from (None entries are computed).
        rule: a transfer rule to run alongside (a ``Rebalance`` is tuned after the levels).
        budget: simulation budget (``TuneBudget``).
        seed: seed of the search noise; the fresh re-evaluation uses ``seed + 1``.
    """
    t0 = time.perf_counter()
    budget = budget or TuneBudget()
    tree = policy_class(net, **_placeholder(policy_class)).tree
    size = tree.size
    computed: Computed = computed_parameters(policy_class, net)
    given = {k: v for k, v in (start or {}).items() if v is not None}
    params = {
        name: np.broadcast_to(np.asarray(given.get(name, computed.params[name]), float), (size,))
        for name in policy_class.PARAMS
    }
    has_transfers = rule is not None and bool(net.is_transfer.any())
    method = computed.method
    search_cost = None
    evaluations = 0
    transfers: dict = {}
    exact = computed.exact and not given and not has_transfers
    if not exact and policy_class.PARAMS:
        noise = CommonNoise(net, budget.envs, budget.periods, seed)
        x0 = np.concatenate([params[name] for name in policy_class.PARAMS])
        lower = np.concatenate([np.full(size, bound) for bound in policy_class.PARAMS.values()])

        def build(rows):
            policy = policy_class(net, **_split(policy_class, rows, size))
            return WithTransfers(policy, rule) if has_transfers else policy

        def feasible(points):
            return policy_class.feasible(_split(policy_class, points, size))

        bar = _progress(None, f"tuning {policy_class.__name__}", budget.progress)
        objective = _Objective(
            lambda pts: batch_costs(net, build, pts, noise, budget.warmup, budget.batch_envs),
            feasible,
            bar,
        )
        if len(x0) <= 2:
            width = np.maximum(4, np.ceil(0.4 * x0))
            x, search_cost = exhaustive_search(objective, x0, lower, width)
            method = f"search: exhaustive grid from ({computed.method})"
        else:
            x, search_cost = coordinate_search(
                objective, x0, lower, max_iterations=budget.max_iterations
            )
            method = f"search: coordinate search, steps {STEPS}, from ({computed.method})"
        params = _split(policy_class, x[None], size)
        params = {k: v[0] for k, v in params.items()}
        evaluations = len(objective.cache)
        if has_transfers and isinstance(rule, Rebalance):
            rule, transfers, n = _tune_rebalance(
                policy_class, net, params, rule, noise, budget, bar
            )
            evaluations += n
            search_cost = transfers["search_cost"]
        if bar is not None:
            bar.close()
    elif given:
        method = "given"
    policy = policy_class(net, **params)
    if has_transfers:
        policy = WithTransfers(policy, rule)
    fresh = evaluate(
        net,
        policy,
        num_envs=budget.eval_envs,
        periods=budget.eval_periods,
        warmup=budget.eval_warmup,
        seed=seed + 1,
    )
    return TuneResult(
        params=params,
        method=method,
        search_cost=search_cost,
        cost_mean=fresh.cost_mean,
        cost_ci95=fresh.cost_ci95,
        evaluations=evaluations,
        seconds=time.perf_counter() - t0,
        seed=seed,
        transfers=transfers,
    )


# Grid of the rebalancing thresholds, in periods of mean demand: low_days, and the gap
# high_days - low_days (a donor keeps at least high_days of supply).
LOW_DAYS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
GAP_DAYS = (0.5, 1.0, 2.0, 3.0, 5.0)


def _tune_rebalance(policy_class, net, params, rule, noise, budget, bar):
    """Grid search of (low_days, high_days) with the replenishment parameters fixed."""
    grid = np.array([(lo, lo + gap) for lo in LOW_DAYS for gap in GAP_DAYS])
    base = policy_class(net, **params)

    def build(rows):
        return WithTransfers(base, Rebalance(net, rows[:, 0], rows[:, 1]))

    costs = batch_costs(net, build, grid, noise, budget.warmup, budget.batch_envs)
    if bar is not None:
        bar.update(len(grid))
    i = int(np.argmin(costs))
    low, high = grid[i]
    return (
        Rebalance(net, low, high),
        {"low_days": float(low), "high_days": float(high), "search_cost": float(costs[i])},
        len(grid),
    )


def _placeholder(policy_class: type[NodePolicy]) -> dict[str, float]:
    """Valid scalar parameters, to build an instance only for its structure."""
    return {name: max(bound, 0.0) for name, bound in policy_class.PARAMS.items()}
