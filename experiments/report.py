"""Benchmark reports: the results table, its Markdown rendering and the plots.

Every row of a benchmark is one policy on one scenario, measured on that scenario's common
noise (``baselines.evaluation.evaluate`` with the benchmark's evaluation seed). The paired
difference against the best tuned baseline (``baselines.evaluation.paired_difference``)
uses the per-replication costs, so its confidence interval excludes the noise both
policies share.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402

from agents.references import OPTIMAL  # noqa: E402
from baselines.evaluation import EvalResult, ci95, paired_difference  # noqa: E402
from envs.network import Network  # noqa: E402

COLUMNS = [
    "scenario",
    "policy",
    "kind",
    "seed",
    "cost_mean",
    "cost_ci95",
    "diff_vs_best",
    "diff_ci95",
    "gap_to_optimum_pct",
    "fill_rate",
    "inventory_turns",
    "transfer_volume",
    "train_seconds",
]


def seed_average(results: list[EvalResult]) -> EvalResult:
    """Several training seeds of one agent as one policy: per replication, the mean cost
    over seeds (still paired with the baselines, which saw the same noise)."""
    first = results[0]
    per_env = np.mean([r.cost_per_env for r in results], axis=0)
    return EvalResult(
        cost_per_env=per_env,
        cost_mean=float(per_env.mean()),
        cost_ci95=ci95(per_env),
        breakdown={k: float(np.mean([r.breakdown[k] for r in results])) for k in first.breakdown},
        fill_rate=float(np.mean([r.fill_rate for r in results])),
        fill_rate_per_node=np.mean([r.fill_rate_per_node for r in results], axis=0),
        cycle_service_level=np.mean([r.cycle_service_level for r in results], axis=0),
        mean_on_hand=np.mean([r.mean_on_hand for r in results], axis=0),
        transfer_volume=float(np.mean([r.transfer_volume for r in results])),
        inventory_turns=float(np.mean([r.inventory_turns for r in results])),
        periods=first.periods,
        warmup=first.warmup,
        envs=first.envs,
        seed=first.seed,
    )


def scenario_rows(
    scenario: str,
    results: dict[str, EvalResult],
    kinds: dict[str, str],
    seeds: dict[str, Any] | None = None,
    train_seconds: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Table rows of one scenario; differences are against the best heuristic baseline."""
    seeds, train_seconds = seeds or {}, train_seconds or {}
    baselines = [n for n, k in kinds.items() if k == "baseline"]
    best = min(baselines, key=lambda n: results[n].cost_mean) if baselines else None
    optimum = results[OPTIMAL].cost_mean if OPTIMAL in results else None
    rows = []
    for name, r in results.items():
        diff, half = paired_difference(r, results[best]) if best else (math.nan, math.nan)
        rows.append(
            {
                "scenario": scenario,
                "policy": name,
                "kind": kinds[name] + (" (best)" if name == best else ""),
                "seed": seeds.get(name, ""),
                "cost_mean": r.cost_mean,
                "cost_ci95": r.cost_ci95,
                "diff_vs_best": diff,
                "diff_ci95": half,
                "gap_to_optimum_pct": (
                    100.0 * (r.cost_mean - optimum) / optimum if optimum else math.nan
                ),
                "fill_rate": r.fill_rate,
                "inventory_turns": r.inventory_turns,
                "transfer_volume": r.transfer_volume,
                "train_seconds": train_seconds.get(name, math.nan),
            }
        )
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float | np.floating):
        return "–" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The report: one table per scenario, with how it was measured."""
    lines = [
        f"# Benchmark `{meta.get('name', '')}`",
        "",
        f"Evaluation: {meta['envs']} replications x {meta['periods']} periods "
        f"(first {meta['warmup']} discarded), noise seed {meta['seed']} (common random numbers "
        "for every policy). Cost = long-run average cost per period; ± = 95% CI half-width "
        "(Student t over replications). Δ vs best = paired difference with the best tuned "
        "baseline (negative: cheaper), its 95% CI paired by replication.",
        "",
    ]
    for scenario, part in df.groupby("scenario", sort=False):
        lines += [
            f"## {scenario}",
            "",
            "| policy | kind | cost | ±95% | Δ vs best | ±95% | gap to optimum % "
            "| fill rate | turns | train s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in part.iterrows():
            lines.append(
                f"| {r.policy} | {r.kind} | {_fmt(r.cost_mean)} | {_fmt(r.cost_ci95)} "
                f"| {_fmt(r.diff_vs_best)} | {_fmt(r.diff_ci95)} | {_fmt(r.gap_to_optimum_pct, 2)} "
                f"| {_fmt(r.fill_rate)} | {_fmt(r.inventory_turns)} | {_fmt(r.train_seconds, 0)} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot_learning_curves(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """Cost on the fixed evaluation noise vs timesteps, per agent run, with the baselines'
    costs on the same noise as flat lines."""
    fig, ax = plt.subplots(figsize=(7, 4))
    refs: dict[str, float] = {}
    for label, run in curves.items():
        h = run["history"]
        ax.plot([p["timesteps"] for p in h], [p["cost_mean"] for p in h], marker=".", label=label)
        refs.update(run.get("references", {}))
    for i, (name, cost) in enumerate(refs.items()):
        ax.axhline(cost, ls="--", lw=1, color=f"C{(i + len(curves)) % 10}", label=name)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("cost per period (evaluation noise)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_frontier(df: pd.DataFrame, path: Path) -> None:
    """Cost against fill rate, one point per policy and scenario."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (scenario, part) in enumerate(df.groupby("scenario", sort=False)):
        ax.scatter(part.fill_rate, part.cost_mean, color=f"C{i}", label=scenario)
        for _, r in part.iterrows():
            ax.annotate(str(r.policy), (r.fill_rate, r.cost_mean), fontsize=6)
    ax.set_xlabel("fill rate")
    ax.set_ylabel("cost per period")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_trajectories(results: dict[str, EvalResult], net: Network, path: Path) -> None:
    """Total on-hand over the stocking nodes in a sample episode (replication 0, same noise
    for every policy)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, r in results.items():
        traj = r.trajectory.get("on_hand")
        if traj is None or len(traj) == 0:
            continue
        ax.plot(traj[:, net.stock_nodes].sum(1), lw=1, label=name)
    ax.set_xlabel("period")
    ax.set_ylabel("units on hand (all stocking nodes)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def finite(value: Any) -> Any:
    """``value`` for JSON: numpy scalars as Python numbers, NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if hasattr(value, "tolist"):
        return finite(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def fail(err: BaseException, run_dir: Path) -> None:
    """Report an error of a Hydra job: one line on stderr and ``error.json`` in the run dir.

    In a multirun the error is raised again so Hydra marks only this job FAILED and the
    launcher runs (and keeps the results of) the others; a single run exits with status 2.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.json").write_text(
        json.dumps({"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()})
    )
    print(f"error: {one_line(err)}", file=sys.stderr)
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise err
    if not isinstance(err, ValueError):
        raise err
    sys.exit(2)


def one_line(err: BaseException) -> str:
    """An error (and its cause, as Hydra's composition errors carry the reason there) as
    one line."""
    text = str(err).split("Config search path")[0]
    override = getattr(err, "override", None)  # hydra.errors.OverrideParseException
    if override and str(override) not in text:
        text = f"override {override!r}: {text}"
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += f" ({err.__cause__})"
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= 400 else line[:397] + "..."


def run_main(main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` entry point so that bad input — Hydra's own composition and
    override errors included — prints one line on stderr and exits with status 2.

    Hydra would print its errors over many lines and exit 1; with ``HYDRA_FULL_ERROR`` set
    it raises them instead, and they are reported here. Errors of a job itself are
    reported by ``run_job``; in a multirun, a failed job's error is in its ``error.json``
    and raised again once the other jobs have run, which ends here too.
    """
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except yaml.YAMLError as err:  # a config file Hydra reads: the message names file and line
        print(f"error: YAML syntax error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


def run_job(run: Callable[[Path], dict]) -> None:
    """Run one Hydra job: ``run(run_dir)`` in the job's run dir; an error is reported by
    ``fail`` (one line on stderr, error.json); the summary is printed as the last stdout line."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run(run_dir)
    except Exception as err:  # noqa: BLE001 - reported by fail(): stderr, error.json, exit/raise
        fail(err, run_dir)
    print(json.dumps(finite(summary)))


def finish_run(cfg: Any, result: dict, echo: bool = True) -> None:
    """Write the resolved config and ``results.json`` into the Hydra run dir and (with
    ``echo``) print the result as the last line of stdout (one JSON object)."""
    from omegaconf import OmegaConf

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    (run_dir / "results.json").write_text(json.dumps(finite(result), indent=2))
    if echo:
        print(json.dumps(finite(result)))
