"""Benchmark figures, drawn for a paper rather than a glance.

- ``plot_node_panels``: one small panel per stocking node and one column per policy,
  over a recorded sample episode (the same noise for every policy): on-hand, demand,
  lost sales or backlog, and the units arriving by replenishment and by transfer.
- ``plot_cost_breakdown``: a stacked bar of the cost components per policy.
- ``plot_learning_curves``: evaluation cost against timesteps; an agent trained with
  several seeds is drawn as its mean with a 95% t band over seeds (thin lines per seed);
  the tuned baselines as flat lines.
- ``plot_frontier``: cost against fill rate with 95% error bars, one panel per scenario,
  each point labelled beside it.
- ``plot_scenarios``: the scenarios side by side (network designs, a parameter sweep):
  the best tuned baseline's total landed cost per unit delivered, stacked by component,
  and every policy's mean order lead time and fill rate.
- ``plot_outage``: the fill rate period by period around a scheduled outage, per policy.
- ``plot_skus``: with several SKUs, each SKU's fill rate and mean order lead time under
  each scenario's best tuned baseline (SKUs labelled with their ABC/XYZ class).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from baselines.evaluation import EvalResult  # noqa: E402
from envs.network import Network  # noqa: E402

DPI = 120


def plot_node_panels(results: dict[str, EvalResult], net: Network, path: Path) -> None:
    """One row per stocking node, one column per policy, over the recorded episode."""
    policies = [n for n, r in results.items() if len(r.trajectory.get("on_hand", ())) > 0]
    if not policies:
        return
    nodes = list(net.stock_nodes)
    # The demand points each node serves first (its own demand, or zones' first lanes).
    demand_cols: dict[int, list[int]] = {}
    for d, n in enumerate(net.demand_nodes):
        demand_cols.setdefault(int(n), []).append(d)
    into = {int(i): np.flatnonzero(net.lane_destination == i) for i in nodes}
    fig, axes = plt.subplots(
        len(nodes),
        len(policies),
        figsize=(2.6 * len(policies) + 1.0, 1.5 * len(nodes) + 0.8),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    for col, name in enumerate(policies):
        traj = results[name].trajectory
        t = np.arange(len(traj["on_hand"]))
        for row, node in enumerate(nodes):
            ax = axes[row, col]
            ax.plot(t, traj["on_hand"][:, node], color="C0", lw=1, label="on hand")
            lanes = into[int(node)]
            replenished = traj["shipped"][:, lanes[~net.is_transfer[lanes]]].sum(1)
            transferred = traj["shipped"][:, lanes[net.is_transfer[lanes]]].sum(1)
            ax.step(t, replenished, color="C2", lw=0.8, where="mid", label="replenishment")
            if transferred.any():
                ax.step(t, transferred, color="C4", lw=0.8, where="mid", label="transfer in")
            if int(node) in demand_cols:
                d = demand_cols[int(node)]
                ax.plot(t, traj["demand"][:, d].sum(1), color="0.5", lw=0.7, label="demand")
                short = traj["lost"][:, d].sum(1) if "lost" in traj else np.zeros(len(t))
                short = short + traj["backlog"][:, node]
                ax.fill_between(t, 0, short, color="C3", alpha=0.4, lw=0, label="lost + backlog")
            if row == 0:
                ax.set_title(name, fontsize=8)
            if col == 0:
                ax.set_ylabel(net.node_names[node], fontsize=7)
            ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("period", fontsize=7)
    handles, labels = [], []
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_cost_breakdown(results: dict[str, EvalResult], path: Path, title: str = "") -> None:
    """Cost per period by component, one stacked bar per policy."""
    names = list(results)
    parts = {k for r in results.values() for k, v in r.breakdown.items() if v and k != "total"}
    components = sorted(parts)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 3.0, 3.8))
    bottom = np.zeros(len(names))
    for i, component in enumerate(components):
        values = np.array([results[n].breakdown.get(component, 0.0) for n in names])
        ax.bar(names, values, bottom=bottom, color=f"C{i % 10}", label=component)
        bottom += values
    ax.set_ylabel("cost per period")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_learning_curves(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """Evaluation cost against timesteps; several seeds of one agent as a mean and a 95%
    band over seeds. ``curves`` maps ``<scenario>/<agent>[seed=<s>]`` to its ``history``
    (a list of ``{timesteps, cost_mean}``) and ``references`` (baseline costs)."""
    groups: dict[str, list[list[dict]]] = {}
    refs: dict[str, float] = {}
    for label, run in curves.items():
        groups.setdefault(re.sub(r"\[seed=[^\]]*\]$", "", label), []).append(run["history"])
        refs.update(run.get("references", {}))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (label, runs) in enumerate(groups.items()):
        color = f"C{i % 10}"
        steps = sorted(set.intersection(*({p["timesteps"] for p in h} for h in runs)))
        costs = np.array([[_cost_at(h, s) for s in steps] for h in runs])  # [seeds, T]
        if len(runs) == 1:
            ax.plot(steps, costs[0], marker=".", color=color, label=label)
            continue
        for h in runs:
            ax.plot(
                [p["timesteps"] for p in h],
                [p["cost_mean"] for p in h],
                color=color,
                lw=0.5,
                alpha=0.4,
            )
        mean = costs.mean(0)
        half = stats.t.ppf(0.975, len(runs) - 1) * costs.std(0, ddof=1) / np.sqrt(len(runs))
        ax.plot(steps, mean, color=color, lw=1.8, label=f"{label} (mean of {len(runs)} seeds)")
        ax.fill_between(steps, mean - half, mean + half, color=color, alpha=0.2, lw=0)
    for j, (name, cost) in enumerate(refs.items()):
        ax.axhline(cost, ls="--", lw=1, color=f"C{(j + len(groups)) % 10}", label=name)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("cost per period (evaluation noise)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _cost_at(history: list[dict], step: int) -> float:
    return next(p["cost_mean"] for p in history if p["timesteps"] == step)


def plot_frontier(df: pd.DataFrame, path: Path) -> None:
    """Cost against fill rate with 95% CIs, one panel per scenario (their costs differ in
    scale); labels alternate above and below their point so neighbours do not overprint."""
    scenarios = list(dict.fromkeys(df.scenario))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.0 * len(scenarios), 4.0), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        part = df[df.scenario == scenario].sort_values("fill_rate")
        for k, (_, r) in enumerate(part.iterrows()):
            color = f"C{k % 10}"
            ax.errorbar(
                r.fill_rate, r.cost_mean, yerr=r.cost_ci95, fmt="o", ms=4, color=color, capsize=3
            )
            ax.annotate(
                str(r.policy),
                (r.fill_rate, r.cost_mean),
                xytext=(6, 8 if k % 2 == 0 else -12),
                textcoords="offset points",
                fontsize=7,
                color=color,
            )
        ax.set_title(str(scenario), fontsize=9)
        ax.set_xlabel("fill rate")
        ax.margins(x=0.25, y=0.15)
    axes[0, 0].set_ylabel("cost per period (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_scenarios(
    results: dict[str, dict[str, EvalResult]], best: dict[str, str], path: Path
) -> None:
    """Per scenario (in order): the landed cost per unit delivered of its best baseline
    ``best[scenario]``, stacked by cost component; then each policy's mean order lead time
    and fill rate (one line per policy across the scenarios)."""
    scenarios = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(4.0 + 1.3 * len(scenarios), 3.8))
    bottom = np.zeros(len(scenarios))
    chosen = [results[s][best[s]] for s in scenarios]
    per_unit = [r.landed_cost_per_unit / max(r.breakdown["total"], 1e-12) for r in chosen]
    parts = sorted({k for r in chosen for k, v in r.breakdown.items() if v and k != "total"})
    for i, component in enumerate(parts):
        values = np.array([r.breakdown.get(component, 0.0) * u for r, u in zip(chosen, per_unit)])
        axes[0].bar(scenarios, values, bottom=bottom, color=f"C{i % 10}", label=component)
        bottom += values
    axes[0].set_ylabel("landed cost per unit delivered")
    axes[0].set_title("best tuned baseline, by component", fontsize=9)
    axes[0].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.3), ncol=3)
    policies = list(dict.fromkeys(p for s in scenarios for p in results[s]))
    for k, policy in enumerate(policies):
        xs = [s for s in scenarios if policy in results[s]]
        rs = [results[s][policy] for s in xs]
        style = dict(marker="o", ms=4, color=f"C{k % 10}", label=policy)
        axes[1].plot(xs, [r.mean_order_lead_time for r in rs], **style)
        axes[2].plot(xs, [r.fill_rate for r in rs], **style)
    axes[1].set_ylabel("mean order lead time (periods)")
    axes[2].set_ylabel("fill rate")
    axes[2].legend(fontsize=6, frameon=False)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_outage(
    results: dict[str, EvalResult], window: tuple[int, int], path: Path, title: str = ""
) -> None:
    """Fill rate per period (over envs) from 20 periods before a scheduled outage to 40
    after it, one line per policy; the outage shaded."""
    start, end = window
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for k, (name, r) in enumerate(results.items()):
        if not r.per_period:
            continue
        lo, hi = max(start - 20, 0), min(end + 40, len(r.per_period["demand"]))
        t = np.arange(lo, hi)
        rate = r.per_period["filled"][lo:hi] / np.maximum(r.per_period["demand"][lo:hi], 1e-12)
        ax.plot(t, rate, color=f"C{k % 10}", lw=1.2, label=name)
    ax.axvspan(start, end, color="0.85", label="outage")
    ax.set_xlabel("period")
    ax.set_ylabel("fill rate (all envs)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_skus(df: pd.DataFrame, best: dict[str, str], path: Path) -> None:
    """Per SKU (``experiments.report.sku_rows``), one bar per scenario under its best
    baseline ``best[scenario]``: fill rate, mean order lead time, mean on-hand."""
    chosen = df[[best.get(s) == p for s, p in zip(df.scenario, df.policy)]]
    scenarios = list(dict.fromkeys(chosen.scenario))
    skus = list(dict.fromkeys(chosen.sku))
    labels = [f"{k}\n({chosen[chosen.sku == k].segment.iloc[0]})" for k in skus]
    fig, axes = plt.subplots(1, 3, figsize=(5.0 + 1.2 * len(skus), 3.8))
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(skus))
    for i, scenario in enumerate(scenarios):
        part = chosen[chosen.scenario == scenario].set_index("sku").loc[skus]
        for ax, column in zip(axes, ("fill_rate", "mean_order_lead_time", "mean_on_hand")):
            ax.bar(x + i * width, part[column], width, color=f"C{i % 10}", label=scenario)
    for ax, label in zip(axes, ("fill rate", "mean order lead time (periods)", "mean on hand")):
        ax.set_xticks(x + width * (len(scenarios) - 1) / 2, labels, fontsize=6)
        ax.set_ylabel(label)
    axes[0].set_ylim(max(0.0, float(chosen.fill_rate.min()) - 0.05), 1.0)
    axes[0].legend(fontsize=6, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
