"""Benchmark reports: the results table and its Markdown rendering (plots: ``experiments.plots``).

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

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from agents.references import OPTIMAL
from baselines.evaluation import EvalResult, ci95, paired_difference

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
    over seeds (still paired with the baselines, which saw the same noise).

    Its ``cost_ci95`` is over seeds (a Student t interval of the per-seed mean costs), so it
    includes the spread between training seeds, not only the evaluation noise.
    """
    first = results[0]
    per_env = np.mean([r.cost_per_env for r in results], axis=0)
    return EvalResult(
        cost_per_env=per_env,
        cost_mean=float(per_env.mean()),
        cost_ci95=ci95(np.array([r.cost_mean for r in results])),
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


def across_seeds_difference(results: list[EvalResult], best: EvalResult) -> tuple[float, float]:
    """Mean and 95% CI half-width over training seeds of each seed's paired difference with
    ``best``: the interval a claim "this agent beats the baseline" needs, as it includes
    the spread between seeds."""
    diffs = np.array([paired_difference(r, best)[0] for r in results])
    return float(diffs.mean()), ci95(diffs)


def scenario_rows(
    scenario: str,
    results: dict[str, EvalResult],
    kinds: dict[str, str],
    seeds: dict[str, Any] | None = None,
    train_seconds: dict[str, float] | None = None,
    seed_groups: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Table rows of one scenario; differences are against the best heuristic baseline.

    ``seed_groups`` maps a mean-over-seeds row (see ``seed_average``) to its per-seed rows;
    its difference and CI are over seeds (``across_seeds_difference``).
    """
    seeds, train_seconds, seed_groups = seeds or {}, train_seconds or {}, seed_groups or {}
    baselines = [n for n, k in kinds.items() if k == "baseline"]
    best = min(baselines, key=lambda n: results[n].cost_mean) if baselines else None
    optimum = results[OPTIMAL].cost_mean if OPTIMAL in results else None
    rows = []
    for name, r in results.items():
        if best is None:
            diff, half = math.nan, math.nan
        elif name in seed_groups:
            group = [results[k] for k in seed_groups[name]]
            diff, half = across_seeds_difference(group, results[best])
        else:
            diff, half = paired_difference(r, results[best])
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
        "(Student t over replications; over training seeds for a mean-of-seeds row). Δ vs best "
        "= paired difference with the best tuned baseline (negative: cheaper), its 95% CI "
        "paired by replication (over seeds' paired differences for a mean-of-seeds row).",
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


def finite(value: Any) -> Any:
    """``value`` for JSON: numpy arrays and scalars as Python lists and numbers, NaN/inf as
    None, keys as strings, anything else JSON does not know as its ``str``."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if hasattr(value, "tolist"):
        return finite(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def write_results(run_dir: Path, results: dict) -> None:
    """``results.json`` of a run: every entry point writes it here, through ``finite``."""
    (Path(run_dir) / "results.json").write_text(json.dumps(finite(results), indent=1))


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


def env_preset(cfg: Any) -> str:
    """The env preset a job ran: Hydra's choice (``env=hub6``, also from a --config-dir),
    which a preset building on another through its defaults may not repeat in ``name``."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("env")
        if choice:
            return str(choice)
    return str(cfg.env.name)


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
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


def run_job(run: Callable[[Path], dict]) -> float | None:
    """Run one Hydra job: ``run(run_dir)`` in the job's run dir; an error is reported by
    ``fail`` (one line on stderr, error.json); the summary is printed as the last stdout line.

    Returns the job's objective, its ``cost_mean`` (what a sweeper such as
    ``hydra/sweeper=optuna`` minimises), or None when the summary has none.
    """
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run(run_dir)
    except Exception as err:  # noqa: BLE001 - reported by fail(): stderr, error.json, exit/raise
        fail(err, run_dir)
    print(json.dumps(finite(summary)))
    objective = summary.get("cost_mean")
    return None if objective is None else float(objective)


def finish_run(cfg: Any, result: dict, echo: bool = True) -> None:
    """Write the resolved config and ``results.json`` into the Hydra run dir and (with
    ``echo``) print the result as the last line of stdout (one JSON object)."""
    from omegaconf import OmegaConf

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    write_results(run_dir, result)
    if echo:
        print(json.dumps(finite(result)))
