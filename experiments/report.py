"""Benchmark reports: the results table and its Markdown rendering (plots: ``experiments.plots``).

Every row of a benchmark is one policy on one scenario, measured on that scenario's common
noise (``baselines.evaluation.evaluate`` with the benchmark's evaluation seed). The paired
difference against the best tuned baseline (``baselines.evaluation.paired_difference``)
uses the per-replication costs, so its confidence interval excludes the noise both
policies share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from baselines.evaluation import EvalResult, ci95, paired_difference
from baselines.references import OPTIMAL

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
    "mean_order_lead_time",
    "same_period_share",
    "landed_cost_per_unit",
    "dropship_volume",
    "fill_rate_during_outage",
    "lead_time_during_outage",
    "lost_during_outage",
    "lost_after_outage",
    "recovery_periods",
    "train_seconds",
]


SKU_COLUMNS = ["scenario", "policy", "sku", "segment", "locations", "demand", "fill_rate"]
SKU_COLUMNS += ["mean_order_lead_time", "mean_on_hand", "inventory_turns", "direct_cost"]
SKU_COLUMNS += ["direct_cost_per_unit"]


def sku_rows(scenario: str, results: dict[str, EvalResult]) -> list[dict[str, Any]]:
    """One row per (policy, SKU) of a scenario with several SKUs (``EvalResult.per_sku``);
    none for a single-product scenario."""
    return [
        {"scenario": scenario, "policy": name, "sku": sku, **kpis}
        for name, r in results.items()
        for sku, kpis in r.per_sku.items()
    ]


def sku_markdown(df: pd.DataFrame) -> str:
    """The per-SKU section of the report: one table per scenario."""
    lines = [
        "## Per SKU",
        "",
        "Each SKU's ABC (volume) / XYZ (variability) class (`envs.segmentation`), the stock "
        "nodes that hold it, its demand per period, fill rate, mean order lead time "
        "(periods), mean on-hand, inventory turns, and its direct cost per period and per "
        "unit delivered (holding, handling, overflow, transport and penalties of its own "
        "stock and lanes; the facility and fixed costs the SKUs share, and in-transit "
        "holding, are not allocated).",
        "",
    ]
    for scenario, part in df.groupby("scenario", sort=False):
        lines += [
            f"### {scenario}",
            "",
            "| policy | SKU | class | locations | demand | fill rate | order lead time "
            "| on hand | turns | direct cost | per unit |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in part.iterrows():
            lines.append(
                f"| {r.policy} | {r.sku} | {r.segment} | {r.locations} | {_fmt(r.demand, 1)} "
                f"| {_fmt(r.fill_rate)} | {_fmt(r.mean_order_lead_time, 2)} "
                f"| {_fmt(r.mean_on_hand, 1)} | {_fmt(r.inventory_turns)} "
                f"| {_fmt(r.direct_cost, 2)} | {_fmt(r.direct_cost_per_unit)} |"
            )
        lines.append("")
    return "\n".join(lines)


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
        order_lead_time={
            k: float(np.mean([r.order_lead_time[k] for r in results]))
            for k in first.order_lead_time
        },
        order_lead_time_per_point=np.mean([r.order_lead_time_per_point for r in results], axis=0),
        mean_order_lead_time=float(np.mean([r.mean_order_lead_time for r in results])),
        landed_cost_per_unit=float(np.mean([r.landed_cost_per_unit for r in results])),
        dropship_volume=float(np.mean([r.dropship_volume for r in results])),
        inventory_turns_per_node=np.mean([r.inventory_turns_per_node for r in results], axis=0),
        per_sku={
            sku: {
                k: v if isinstance(v, str) else float(np.mean([r.per_sku[sku][k] for r in results]))
                for k, v in kpis.items()
            }
            for sku, kpis in first.per_sku.items()
        },
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
    outage: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Table rows of one scenario; differences are against the best heuristic baseline.

    ``seed_groups`` maps a mean-over-seeds row (see ``seed_average``) to its per-seed rows;
    its difference and CI are over seeds (``across_seeds_difference``). ``outage``: each
    policy's ``baselines.kpi.outage_kpis`` in a scenario with a scheduled outage.
    """
    seeds, train_seconds, seed_groups = seeds or {}, train_seconds or {}, seed_groups or {}
    outage = outage or {}
    baselines = [n for n, k in kinds.items() if k == "baseline"]
    best = min(baselines, key=lambda n: results[n].cost_mean) if baselines else None
    optimum = results[OPTIMAL].cost_mean if OPTIMAL in results else None
    rows = []
    for name, r in results.items():
        down = outage.get(name, {})
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
                "mean_order_lead_time": r.mean_order_lead_time,
                "same_period_share": r.order_lead_time["same_period"],
                "landed_cost_per_unit": r.landed_cost_per_unit,
                "dropship_volume": r.dropship_volume,
                "fill_rate_during_outage": down.get("fill_rate_during", math.nan),
                "lead_time_during_outage": down.get("lead_time_during", math.nan),
                "lost_during_outage": down.get("lost_during", math.nan),
                "lost_after_outage": down.get("lost_after", math.nan),
                "recovery_periods": down.get("recovery_periods", math.nan),
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
            "| fill rate | turns | order lead time | same period | landed cost/unit | train s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in part.iterrows():
            lines.append(
                f"| {r.policy} | {r.kind} | {_fmt(r.cost_mean)} | {_fmt(r.cost_ci95)} "
                f"| {_fmt(r.diff_vs_best)} | {_fmt(r.diff_ci95)} | {_fmt(r.gap_to_optimum_pct, 2)} "
                f"| {_fmt(r.fill_rate)} | {_fmt(r.inventory_turns)} "
                f"| {_fmt(r.mean_order_lead_time, 2)} | {_fmt(r.same_period_share)} "
                f"| {_fmt(r.landed_cost_per_unit)} | {_fmt(r.train_seconds, 0)} |"
            )
        lines.append("")
        if part.fill_rate_during_outage.notna().any():
            lines += [
                "Scheduled outage (`baselines.kpi.outage_kpis`): fill rate and mean order "
                "lead time during it, units lost per env during it and until the fill rate "
                "recovered, and the periods that took.",
                "",
                "| policy | fill rate during | lead time during | lost during | lost after "
                "| recovery periods |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for _, r in part[part.fill_rate_during_outage.notna()].iterrows():
                lines.append(
                    f"| {r.policy} | {_fmt(r.fill_rate_during_outage)} "
                    f"| {_fmt(r.lead_time_during_outage, 2)} | {_fmt(r.lost_during_outage, 1)} "
                    f"| {_fmt(r.lost_after_outage, 1)} | {_fmt(r.recovery_periods, 0)} |"
                )
            lines.append("")
    return "\n".join(lines)
