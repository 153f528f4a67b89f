"""SB3 callbacks: inventory KPIs, evaluation on common random numbers, checkpoints.

TensorBoard tags (through SB3's logger, so they sit next to SB3's ``rollout/`` and
``train/``):

- ``cost/<component>`` (holding, backlog, lost_sales, ordering, transfer, ..., total): the
  training envs' cost per period by component, averaged over the steps since the last
  log (an episode's cost divided by its length); read from the env's ``last_info``;
- ``service/fill_rate/<node>``: share of demand served from stock at once;
  ``service/cycle_service_level/<node>``: share of periods without a shortage;
- ``inventory/mean_on_hand/<node>``; ``flow/transfer_volume``: units on transfer lanes
  per period;
- ``eval/cost_mean``, ``eval/cost_ci95``, ``eval/fill_rate``, ``eval/best_cost_mean``: the
  deterministic policy's long-run average cost on FIXED evaluation noise
  (``baselines.evaluation.evaluate`` with a fixed seed), so successive evaluations differ
  only by the policy;
- ``baseline/<name>``: each reference policy's cost on the same evaluation noise, logged at
  every evaluation so it draws a flat line on the chart of ``eval/cost_mean``;
- ``trajectory/inventory``: a figure of a sample evaluation episode (on-hand per node);
- hyperparameters with the final metrics (hparams plugin), written by
  ``log_hparams`` at the end of training.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.logger import Figure, HParam, Logger  # noqa: E402

from agents.checkpoint import save_agent  # noqa: E402
from agents.policy import AgentPolicy  # noqa: E402
from baselines.evaluation import EvalResult, evaluate  # noqa: E402
from baselines.kpi import KPIMeter  # noqa: E402
from envs.network import Network  # noqa: E402

logger = logging.getLogger(__name__)

NOT_TEXT = ("stdout", "log", "json", "csv")


class InventoryKPICallback(BaseCallback):
    """Logs the training envs' cost breakdown, service levels, stock and transfers of each
    rollout (``baselines.kpi.KPIMeter``, the meter evaluation uses)."""

    def __init__(self, net: Network):
        super().__init__()
        self.net = net
        self.meter = KPIMeter(net)

    def _on_step(self) -> bool:
        info = self.training_env.get_attr("last_info")[0]
        if not info:
            return True
        sim = self.training_env.get_attr("sim")[0]
        costs = {k.removeprefix("cost/"): v for k, v in info.items() if k.startswith("cost/")}
        self.meter.add(costs, info, sim.state.on_hand)
        return True

    def _on_rollout_end(self) -> None:
        if self.meter.samples == 0:
            return
        for tag, value in self.meter.tags().items():
            self.logger.record(tag, value)
        self.meter = KPIMeter(self.net)


def trajectory_figure(result: EvalResult, net: Network, title: str = "") -> plt.Figure:
    """On-hand per stocking node (and demand) over a recorded evaluation episode."""
    traj = result.trajectory
    fig, ax = plt.subplots(figsize=(8, 4))
    t = np.arange(len(traj["on_hand"]))
    for i in net.stock_nodes:
        ax.plot(t, traj["on_hand"][:, i], label=f"on hand {net.node_names[i]}", lw=1)
    ax.set_xlabel("period")
    ax.set_ylabel("units")
    ax.set_title(title or "sample evaluation episode")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


class CRNEvalCallback(BaseCallback):
    """Evaluates the deterministic policy every ``eval_every`` timesteps on fixed noise.

    Keeps the best agent (lowest ``eval/cost_mean``) in ``best_dir`` and the history of
    evaluations in ``history_file`` (JSON, rewritten after each evaluation so an
    interrupted run keeps it).

    Args:
        net, action_mode: what the agent acts on.
        eval_every: timesteps between evaluations (and one at the end of training).
        eval_cfg: ``envs``, ``periods``, ``warmup``, ``seed`` for ``evaluate``.
        references: cost of each reference policy on the same evaluation noise.
        best_dir: where the best agent is saved.
        history_file: where the history is written.
    """

    def __init__(
        self,
        net: Network,
        action_mode: str,
        eval_every: int,
        eval_cfg: Any,
        references: dict[str, float],
        best_dir: Path,
        history_file: Path,
    ):
        super().__init__()
        self.net = net
        self.action_mode = action_mode
        self.eval_every = max(int(eval_every), 1)
        self.eval_cfg = eval_cfg
        self.references = references
        self.best_dir = Path(best_dir)
        self.history_file = Path(history_file)
        self.best_cost = math.inf
        self.history: list[dict] = []
        self._next = 0
        self._t0 = time.time()

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.eval_every + 1) * self.eval_every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.eval_every
            self.run_eval()
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["timesteps"] != self.num_timesteps:
            self.run_eval()

    def run_eval(self) -> EvalResult:
        cfg = self.eval_cfg
        env = self.model.get_env()
        policy = AgentPolicy(self.model, env, self.net, self.action_mode)
        result = evaluate(
            self.net,
            policy,
            num_envs=int(cfg.envs),
            periods=int(cfg.periods),
            warmup=int(cfg.warmup),
            seed=int(cfg.seed),
            record=min(int(cfg.periods), 100),
        )
        improved = result.cost_mean < self.best_cost
        if improved:
            self.best_cost = result.cost_mean
            save_agent(self.model, env, self.best_dir)
        log = self.logger
        log.record("eval/cost_mean", result.cost_mean)
        log.record("eval/cost_ci95", result.cost_ci95)
        log.record("eval/fill_rate", result.fill_rate)
        log.record("eval/best_cost_mean", self.best_cost)
        for name, cost in self.references.items():
            log.record(f"baseline/{name}", cost)
        if improved or not self.history:
            fig = trajectory_figure(result, self.net, f"timestep {self.num_timesteps}")
            log.record("trajectory/inventory", Figure(fig, close=True), exclude=NOT_TEXT)
        self.history.append(
            {
                "timesteps": int(self.num_timesteps),
                "seconds": time.time() - self._t0,
                "cost_mean": result.cost_mean,
                "cost_ci95": result.cost_ci95,
                "fill_rate": result.fill_rate,
                "best": bool(improved),
            }
        )
        self.history_file.write_text(json.dumps(self.history, indent=1))
        log.dump(self.num_timesteps)
        logger.info(
            "eval at %d steps: cost %.3f ± %.3f, fill rate %.3f, best %.3f%s",
            self.num_timesteps,
            result.cost_mean,
            result.cost_ci95,
            result.fill_rate,
            self.best_cost,
            " (new best)" if improved else "",
        )
        return result


class ProgressLog(BaseCallback):
    """A log line every ``percent`` of the training budget (steps, elapsed time, time left):
    what the progress bar shows, for runs whose stderr is not a terminal."""

    def __init__(self, total_timesteps: int, percent: float = 5.0):
        super().__init__()
        self.total = max(int(total_timesteps), 1)
        self.every = max(int(self.total * percent / 100), 1)
        self._next = 0
        self._t0 = 0.0
        self._start_step = 0

    def _on_training_start(self) -> None:
        self._t0 = time.time()
        self._start_step = self.num_timesteps
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            elapsed = time.time() - self._t0
            done = self.num_timesteps - self._start_step
            left = elapsed / max(done, 1) * max(self.total - self.num_timesteps, 0)
            logger.info(
                "training: %d/%d steps (%.0f%%), %.0f s elapsed, ~%.0f s left",
                self.num_timesteps,
                self.total,
                100.0 * self.num_timesteps / self.total,
                elapsed,
                left,
            )
        return True


class PeriodicCheckpoint(BaseCallback):
    """Saves the agent (model + VecNormalize) into ``directory/step_<t>`` every ``every``
    timesteps, and as ``directory/last`` (what ``train.resume`` picks up)."""

    def __init__(self, directory: Path, every: int):
        super().__init__()
        self.directory = Path(directory)
        self.every = max(int(every), 1)
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self.save()
        return True

    def save(self) -> None:
        env = self.model.get_env()
        save_agent(self.model, env, self.directory / f"step_{self.num_timesteps:010d}")
        save_agent(self.model, env, self.directory / "last")


def log_hparams(
    logger: Logger, hparams: dict[str, Any], metrics: dict[str, float], step: int
) -> None:
    """Hyperparameters and final metrics for TensorBoard's hparams plugin.

    The plugin reads each metric's value from the scalar with the same tag, so the metrics
    are also recorded as scalars.
    """
    clean = {k: v for k, v in metrics.items() if v is not None and np.isfinite(v)}
    for key, value in clean.items():
        logger.record(key, float(value))
    logger.record("hparams", HParam(hparams, clean), exclude=NOT_TEXT)
    logger.dump(step)
