"""HDPO: hindsight differentiable policy optimisation (Alvo, Russo & Kanoria, 2023).

"Neural inventory control in networks via hindsight differentiable policy optimization"
(arXiv:2306.11246): the dynamics of an inventory network are known and differentiable
almost everywhere, so a policy network is trained by plain gradient descent on the cost of
simulated demand scenarios, the gradient flowing back through the simulator (pathwise, not a
likelihood-ratio or critic estimate).

One gradient step here:

1. draw a batch of ``num_envs`` scenarios of ``horizon`` periods from the env's own noise
   model (``envs.noise.NoiseStream``; step i uses streams ``i * num_envs ...``, so a run is
   reproducible and resumes where it stopped);
2. roll the policy out from the initial state through ``envs.torch_transition`` (the torch
   twin of the env's transition: same events, whole units forward, straight-through
   rounding backward) with the env's own action parametrisation;
3. loss = mean cost per period after ``warmup`` periods, averaged over the batch;
4. Adam step (gradient norm clipped), learning rate decayed on a cosine schedule.

Fixed ordering costs are steps in the order quantity, flat almost everywhere; with
``fixed_cost_width`` w they are differentiated as K * min(q / (w * EOQ), 1)
(``envs.torch_transition``), a concave surrogate that rewards fewer, larger shipments. With
``action_head=s_S`` the lanes with a fixed cost are driven by a reorder point and an
order-up-to level instead (``agents.hdpo_reorder``), and the fixed cost is differentiated
through the relaxed reorder trigger.

With a warm start (``warm_start=s_S``: the tuned (s, S) policy plus a residual network that
starts at zero), ``keep_warm_start=fixed_cost_lanes`` trains only the decisions without a
fixed cost (orders on the other lanes, transfers): the lanes with a fixed cost keep the
tuned (s, S) decisions, whose gradient is only a relaxation's.

Every ``eval_every`` steps the deterministic policy is evaluated on the fixed evaluation noise
(``baselines.evaluation.evaluate``, as every agent and baseline) and the best one is kept.

A run directory gets ``tb/`` (TensorBoard, the same tags as the SB3 agents: ``cost/*``,
``service/*``, ``inventory/*``, ``flow/transfer_volume``, ``eval/*``, ``baseline/*``,
``trajectory/inventory``, hparams), ``best/``, ``final/`` and ``checkpoints/{last,step_<i>}/``
(each ``policy.pt``: the network's state dict; ``hdpo.json``: its settings and progress;
checkpoints also ``optimizer.pt``), and ``evaluations.json``. Tensors are written with
``torch.save`` of plain state dicts and read back with ``weights_only=True`` — no pickled
objects.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.logger import Figure, configure

from agents.callbacks import NOT_TEXT, trajectory_figure
from agents.hdpo_policy import HDPOPolicy, TorchActionMap, build_network_policy, start_from
from agents.hdpo_reorder import ReorderPoints, reorder_points_of, s_S_prior
from agents.training import TrainedAgent
from baselines.evaluation import evaluate_on
from baselines.kpi import KPIMeter
from envs.actions import ActionMap
from envs.network import Network, downstream_mean_demand
from envs.noise import Noise, NoiseStream
from envs.torch_transition import TorchNoise, torch_initial_state, torch_transition

log = logging.getLogger(__name__)

POLICY_FILE = "policy.pt"
OPTIMIZER_FILE = "optimizer.pt"
META_FILE = "hdpo.json"

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def is_hdpo(agent_cfg: Any) -> bool:
    """Whether an agent config names the HDPO trainer (``conf/agent/hdpo.yaml``)."""
    return str(agent_cfg.get("name", "")) == "hdpo"


def settings_of(agent_cfg: Any) -> dict[str, Any]:
    """The HDPO settings (``agent.model``) as a plain dict, checked."""
    model = agent_cfg.model
    s = (
        OmegaConf.to_container(model, resolve=True)
        if isinstance(model, DictConfig)
        else dict(model)
    )
    for key in ("steps", "horizon", "eval_every", "checkpoint_every"):
        if int(s[key]) < 1:
            raise ValueError(f"agent.model.{key}: must be >= 1, got {s[key]!r}")
    if not 0 <= int(s["warmup"]) < int(s["horizon"]):
        raise ValueError(
            f"agent.model.warmup: must be in [0, horizon={s['horizon']}), got {s['warmup']!r}"
        )
    if float(s["learning_rate"]) <= 0:
        raise ValueError(f"agent.model.learning_rate: must be > 0, got {s['learning_rate']!r}")
    if str(s.get("dtype", "float32")) not in DTYPES:
        raise ValueError(f"agent.model.dtype: one of {list(DTYPES)}, got {s.get('dtype')!r}")
    keep = s.get("keep_warm_start")
    if keep is not None and keep not in KEPT_DECISIONS:
        raise ValueError(
            f"agent.model.keep_warm_start: one of {KEPT_DECISIONS} or null, got {keep!r}"
        )
    if keep is not None and s.get("warm_start") is None:
        raise ValueError(
            f"agent.model.keep_warm_start: {keep} keeps the warm start's decisions, and "
            "agent.model.warm_start is null; set warm_start=s_S"
        )
    return s


def check_settings(
    net: Network, env_cfg: Any, agent_cfg: Any
) -> tuple[dict[str, Any], ReorderPoints | None]:
    """Every HDPO setting checked against the network, before any work (entry points call
    it ahead of tuning the baselines): the settings and the (s, S) head, if any."""
    s = settings_of(agent_cfg)
    reorder = reorder_points_of(net, s)  # rejects a bad action head first
    TorchActionMap(ActionMap(net, str(env_cfg.action_mode)), reorder)  # and action modes
    return s, reorder


KEPT_DECISIONS = ("fixed_cost_lanes",)
"""What ``agent.model.keep_warm_start`` can keep at the warm start during training."""


def kept_outputs(net: Network, reorder: ReorderPoints | None) -> np.ndarray:
    """The network's outputs [E (+ L)] that ``keep_warm_start=fixed_cost_lanes`` keeps: the
    replenishment lanes with a fixed cost and, with an (s, S) head, every reorder fraction
    (those lanes' own)."""
    lanes = (net.fixed_cost > 0) & ~net.is_transfer
    fractions = np.ones(0 if reorder is None else len(reorder.lanes), dtype=bool)
    return np.concatenate([lanes, fractions])


def _stack_noise(path: list[Noise], dtype: torch.dtype, device: str) -> list[TorchNoise]:
    """A scenario (list of per-period numpy noise) as tensors, converted in one go."""
    demand = torch.as_tensor(np.stack([n.demand for n in path]), dtype=dtype, device=device)
    lead = torch.as_tensor(np.stack([n.lead_time for n in path]), device=device)
    if path[0].node_disruption is None:
        nodes = lanes = [None] * len(path)
    else:
        f64 = torch.float64
        nodes = torch.as_tensor(
            np.stack([n.node_disruption for n in path]), dtype=f64, device=device
        )
        lanes = torch.as_tensor(
            np.stack([n.lane_disruption for n in path]), dtype=f64, device=device
        )
    return [TorchNoise(demand[t], lead[t], nodes[t], lanes[t]) for t in range(len(path))]


FLOWS = ("demand", "filled", "lost", "backlog", "sales", "shipped")


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().double().numpy()


class Rollout:
    """Simulates a policy network on a batch of scenarios with the torch transition."""

    def __init__(
        self,
        net: Network,
        action_mode: str,
        dtype: torch.dtype,
        device: str,
        fixed_cost_width: float | None = None,
        reorder: ReorderPoints | None = None,
        kept: np.ndarray | None = None,
    ):
        self.net = net
        # Outputs that get no gradient (``keep_warm_start``): with zero output layers (the
        # warm start) they stay the warm start's decisions, while the layers they share
        # with the other outputs learn from those.
        self.kept = None if kept is None else torch.as_tensor(kept, device=device)
        self.fixed_cost_width = None
        # With an (s, S) head the reorder trigger carries the fixed cost's gradient on every
        # lane that has one; the ramp would pull the same lanes towards larger orders too.
        if fixed_cost_width and net.fixed_cost.any() and reorder is None:
            self.fixed_cost_width = torch.as_tensor(
                fixed_cost_width * economic_order_quantity(net), dtype=dtype, device=device
            )
        self.actions = TorchActionMap(ActionMap(net, action_mode), reorder)
        self.dtype, self.device = dtype, device

    def run(
        self, model: torch.nn.Module, noise: list[TorchNoise], warmup: int, kpis: bool = False
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean cost per period after ``warmup`` (a differentiable scalar), and with ``kpis``
        the cost components, service levels, stock and transfers (as the SB3 agents log)."""
        b = noise[0].demand.shape[0]
        state = torch_initial_state(self.net, b, self.dtype, self.device)
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        meter = KPIMeter(self.net) if kpis else None

        for t, period_noise in enumerate(noise):
            action = model(state)
            if self.kept is not None:
                action = torch.where(self.kept, action.detach(), action)
            quantity, gate = self.actions.with_gate(action, state)
            state, costs, flows = torch_transition(
                self.net,
                state,
                quantity,
                period_noise,
                check=False,
                fixed_cost_width=self.fixed_cost_width,
                fixed_cost_gate=gate,
            )
            if t < warmup:
                continue
            total = total + costs.total.mean()
            if meter is not None:  # the KPIs every agent logs (baselines.kpi)
                with torch.no_grad():
                    meter.add(
                        {k: _numpy(v) for k, v in costs.as_dict().items()},
                        {k: _numpy(getattr(flows, k)) for k in FLOWS},
                        _numpy(state.on_hand),
                    )
        n = len(noise) - warmup
        return total / n, meter.tags() if meter is not None else {}


def economic_order_quantity(net: Network) -> np.ndarray:
    """Per lane, sqrt(2 K D / h): fixed cost K, mean demand D served through the lane's
    destination, holding cost h there (at least 1 unit)."""
    through = downstream_mean_demand(
        net.lane_source, net.lane_destination, net.is_transfer, net.node_mean_demand
    )
    d = through[net.lane_destination]
    h = np.maximum(net.holding_cost[net.lane_destination], 1e-3)
    return np.maximum(np.sqrt(2 * net.fixed_cost * d / h), 1.0)


def warm_start_prior(
    net: Network, action_mode: str, reorder: ReorderPoints | None, train_cfg: Any
) -> np.ndarray:
    """The pre-activations of the (s, S) policy tuned with ``train.tune`` (as the baselines
    of a training run are tuned; the same parameters for the same budget and seed)."""
    from baselines.registry import make_policy, policy_config

    policy, params = make_policy(policy_config("s_S"), net, tune=train_cfg.get("tune"), seed=0)
    log.info("warm start from (s, S): %s", params)
    return s_S_prior(net, ActionMap(net, action_mode), reorder, policy)


def save_policy(
    model: torch.nn.Module, settings: dict, meta: dict, directory: Path, optimizer=None
) -> Path:
    """Write ``policy.pt`` (state dict) and ``hdpo.json`` (and ``optimizer.pt``)."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / POLICY_FILE)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    (directory / META_FILE).write_text(json.dumps({"settings": settings, **meta}, indent=1))
    return directory


def hdpo_checkpoint_dir(path: str | Path, option: str = "train.resume") -> Path:
    """The directory of an HDPO checkpoint (the directory or its ``policy.pt``)."""
    p = Path(path).expanduser()
    directory = p.parent if p.suffix == ".pt" else p
    if not (directory / POLICY_FILE).is_file() or not (directory / META_FILE).is_file():
        raise ValueError(
            f"{option}: no HDPO checkpoint at {str(p)!r} (expected {directory / POLICY_FILE} "
            f"and {directory / META_FILE})"
        )
    return directory


def load_policy_network(net: Network, path: str | Path, option: str = "agent path"):
    """(network, settings, meta) of a saved HDPO policy; tensors read with weights_only."""
    directory = hdpo_checkpoint_dir(path, option)
    meta = json.loads((directory / META_FILE).read_text())
    settings = meta.pop("settings")
    model = build_network_policy(net, settings).to(DTYPES[str(settings.get("dtype", "float32"))])
    state = torch.load(directory / POLICY_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model, settings, meta


def load_hdpo_policy(net: Network, path: str | Path, action_mode: str) -> HDPOPolicy:
    """A saved HDPO policy as a batched ``Policy``, for evaluation."""
    model, _, _ = load_policy_network(net, path)
    return HDPOPolicy(model, net, action_mode)


def train_hdpo(
    net: Network,
    env_cfg: DictConfig,
    agent_cfg: DictConfig,
    train_cfg: DictConfig,
    seed: int,
    run_dir: str | Path,
    references: dict[str, float] | None = None,
) -> TrainedAgent:
    """Train an HDPO policy on ``net`` for ``agent.model.steps`` gradient steps; return the
    best policy (by cost on the fixed evaluation noise ``train_cfg.eval``).

    ``train.resume`` (a ``checkpoints/<...>`` dir) continues a run; ``train.eval``,
    ``train.torch_threads`` mean what they mean for every agent. The SB3 step counts
    (``train.total_timesteps``, ``eval_every``, ``checkpoint_every``) do not apply: HDPO counts
    gradient steps (``agent.model.steps``, ``eval_every``, ``checkpoint_every``).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    s, reorder = check_settings(net, env_cfg, agent_cfg)
    action_mode = str(env_cfg.action_mode)
    resume = train_cfg.get("resume")
    if resume:
        resume = hdpo_checkpoint_dir(resume, "train.resume")
    if train_cfg.get("torch_threads"):
        torch.set_num_threads(int(train_cfg.torch_threads))
    device = str(s.get("device", "cpu"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = DTYPES[str(s.get("dtype", "float32"))]
    batch = int(train_cfg.get("num_envs") or agent_cfg.num_envs)
    steps, horizon, warmup = int(s["steps"]), int(s["horizon"]), int(s["warmup"])

    torch.manual_seed(seed)
    model = build_network_policy(net, s).to(device=device, dtype=dtype)
    if s.get("warm_start") and not resume:
        start_from(model, warm_start_prior(net, action_mode, reorder, train_cfg))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(s["learning_rate"]))
    base_lr, final_lr = float(s["learning_rate"]), float(s.get("final_lr_fraction", 0.1))

    def learning_rate(step: int) -> float:
        """Cosine decay from ``learning_rate`` to ``final_lr_fraction`` of it."""
        return base_lr * (final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * step / steps)))

    done, best_cost, history = 0, math.inf, []
    if resume:
        meta = json.loads((resume / META_FILE).read_text())
        model.load_state_dict(
            torch.load(resume / POLICY_FILE, map_location=device, weights_only=True)
        )
        if (resume / OPTIMIZER_FILE).is_file():
            optimizer.load_state_dict(
                torch.load(resume / OPTIMIZER_FILE, map_location=device, weights_only=True)
            )
        # The learning curve continues; the best policy is chosen again in this run's dir.
        done, history = int(meta["step"]), list(meta.get("history", []))

    logger = configure(str(run_dir / "tb"), ["tensorboard", "csv"])
    kept = kept_outputs(net, reorder) if s.get("keep_warm_start") else None
    rollout = Rollout(net, action_mode, dtype, device, s.get("fixed_cost_width"), reorder, kept)
    history_file = run_dir / "evaluations.json"
    eval_cfg = train_cfg.eval
    clip = float(s.get("max_grad_norm", 10.0))
    start = time.time()
    periods_per_step = batch * horizon

    def progress(step: int) -> dict[str, Any]:
        return {
            "step": step,
            "timesteps": step * periods_per_step,
            "best_cost": best_cost,
            "history": history,
            "seed": seed,
        }

    def run_eval(step: int) -> None:
        nonlocal best_cost
        policy = HDPOPolicy(model, net, action_mode)
        result = evaluate_on(net, policy, eval_cfg, record=min(int(eval_cfg.periods), 100))
        model.train()
        improved = result.cost_mean < best_cost
        timesteps = step * periods_per_step
        if improved:
            best_cost = result.cost_mean
        history.append(
            {
                "timesteps": timesteps,
                "step": step,
                "seconds": time.time() - start,
                "cost_mean": result.cost_mean,
                "cost_ci95": result.cost_ci95,
                "fill_rate": result.fill_rate,
                "best": bool(improved),
            }
        )
        if improved:
            save_policy(model, s, progress(step), run_dir / "best")
        logger.record("eval/cost_mean", result.cost_mean)
        logger.record("eval/cost_ci95", result.cost_ci95)
        logger.record("eval/fill_rate", result.fill_rate)
        logger.record("eval/best_cost_mean", best_cost)
        for name, cost in (references or {}).items():
            logger.record(f"baseline/{name}", cost)
        if improved or len(history) == 1:
            fig = trajectory_figure(result, net, f"step {step}")
            logger.record("trajectory/inventory", Figure(fig, close=True), exclude=NOT_TEXT)
        history_file.write_text(json.dumps(history, indent=1))
        logger.dump(timesteps)

    model.train()
    if s.get("warm_start") and done == 0:
        run_eval(0)  # the starting policy is a candidate: training keeps it unless it does better
    eval_every, ckpt_every = int(s["eval_every"]), int(s["checkpoint_every"])
    for step in range(done, steps):
        stream = NoiseStream(net, batch, seed=seed, first_env=step * batch)
        noise = _stack_noise(stream.path(horizon), dtype, device)
        log_now = (step + 1) % eval_every == 0 or step + 1 == steps
        loss, kpis = rollout.run(model, noise, warmup, kpis=log_now)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if log_now:
            for key, value in kpis.items():
                logger.record(key, value)
            logger.record("train/loss", float(loss.detach()))
            logger.record("train/grad_norm", float(grad_norm))
            logger.record("train/learning_rate", optimizer.param_groups[0]["lr"])
            run_eval(step + 1)
        if (step + 1) % ckpt_every == 0 or step + 1 == steps:
            meta = progress(step + 1)
            save_policy(model, s, meta, run_dir / "checkpoints" / f"step_{step + 1:07d}", optimizer)
            save_policy(model, s, meta, run_dir / "checkpoints" / "last", optimizer)
    if not (run_dir / "best").is_dir() or history[-1]["step"] != steps:
        run_eval(steps)  # nothing left to train (a finished run resumed): still evaluate
    seconds = time.time() - start
    save_policy(model, s, progress(steps), run_dir / "final")
    best, _, _ = load_policy_network(net, run_dir / "best", "best")
    return TrainedAgent(
        policy=HDPOPolicy(best, net, action_mode),
        history=history,
        train_seconds=seconds,
        timesteps=steps * periods_per_step,
        run_dir=run_dir,
        logger=logger,
    )
