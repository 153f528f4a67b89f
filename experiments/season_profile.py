"""What each policy does around the peaks of a season known in advance (promotions).

``season_profile`` plays every policy on the benchmark's evaluation noise (the same seed,
envs and periods, so the same demands) and averages, per phase of the season cycle over
every env and every period after the warm-up: the mean demand, the stock on hand at the
start of the period (after arrivals, before demand: what was pre-positioned), the units
ordered, the demand lost or backlogged and the fill rate. ``write_season_profile`` saves
the table (``season_profile_<scenario>.csv``), a figure (``season_profile_<scenario>.png``)
and a Markdown section of the periods around the peaks (``season_profile_<scenario>.md``)
that the benchmark appends to its report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from baselines.policy_base import Policy  # noqa: E402
from baselines.rollout import StreamNoise, rollout  # noqa: E402
from envs.network import Network  # noqa: E402
from envs.noise import NoiseStream  # noqa: E402
from envs.transition import Costs, Flows, State, initial_state  # noqa: E402

DPI = 120
BEFORE, AFTER = 3, 2
"""Periods shown in the Markdown section before a peak's build-up (its lead time) and
after the peak."""


def season_profile(net: Network, policies: dict[str, Policy], eval_cfg: Any) -> pd.DataFrame:
    """Per policy and phase of the season cycle, means over envs and periods after the
    warm-up (``eval_cfg``: envs, periods, warmup, seed, as ``evaluate``): ``demand``,
    ``on_hand`` (all stocking nodes, at the start of the period), ``ordered`` (units shipped
    on replenishment lanes), ``short`` (demand lost or newly backlogged), ``fill_rate``."""
    frames = []
    for name, policy in policies.items():
        mean = _phase_means(net, policy, eval_cfg)
        frames.append(
            pd.DataFrame(
                {
                    "policy": name,
                    "phase": np.arange(len(mean)),
                    "demand": mean[:, 0],
                    "on_hand": mean[:, 1],
                    "ordered": mean[:, 2],
                    "short": mean[:, 3],
                    "fill_rate": mean[:, 4] / np.maximum(mean[:, 0], 1e-12),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _phase_means(net: Network, policy: Policy, eval_cfg: Any) -> np.ndarray:
    """[cycle, 5]: demand, start-of-period on hand, ordered, short, filled per period."""
    cycle = net.demand.season_period
    envs, periods = int(eval_cfg.envs), int(eval_cfg.periods)
    warmup, seed = int(eval_cfg.warmup), int(eval_cfg.seed)
    replenish = ~net.is_transfer
    sums = np.zeros((cycle, 5))
    counts = np.zeros(cycle)
    start_stock = [np.zeros(envs)]  # stock at the start of the current period

    def observe(t: int, state: State, costs: Costs, flows: Flows) -> None:
        if t >= warmup:
            demand = flows.demand.sum(1)
            filled = flows.filled.sum(1)
            sums[t % cycle] += [
                demand.sum(),
                start_stock[0].sum(),
                flows.shipped[:, replenish].sum(),
                (demand - filled).sum(),
                filled.sum(),
            ]
            counts[t % cycle] += envs
        # After the transition: the stock at the start of period t + 1 (arrivals landed).
        start_stock[0] = state.on_hand[:, net.stock_nodes].sum(1)

    rollout(
        net,
        policy,
        initial_state(net, envs),
        StreamNoise(NoiseStream(net, envs, seed)),
        periods,
        warmup,
        observe,
    )
    return sums / np.maximum(counts, 1)[:, None]


def peak_window(net: Network) -> list[int]:
    """Phases shown around the peaks: from ``BEFORE`` periods before the longest lead time
    ahead of each peak phase (mean demand above its median over the cycle) to ``AFTER``
    periods after it, in cycle order."""
    cycle = net.demand.season_period
    phases = np.arange(cycle)
    mean = sum(
        spec.mean * spec.multipliers()[phases % spec.season_period] for spec in net.demand.specs
    )
    peaks = np.flatnonzero(mean > np.median(mean) * (1 + 1e-9))
    lead = max(lt.max for lt in net.lead_times)
    shown = {int(p + k) % cycle for p in peaks for k in range(-(lead + BEFORE), AFTER + 1)}
    return sorted(shown)


def profile_markdown(profile: pd.DataFrame, phases: list[int], scenario: str) -> str:
    """The periods around the peaks as a Markdown table: mean demand, then per policy the
    stock on hand at the start of the period and the demand short (lost or backlogged)."""
    policies = list(dict.fromkeys(profile.policy))
    by = {name: part.set_index("phase") for name, part in profile.groupby("policy", sort=False)}
    first = by[policies[0]]
    head = "| phase | demand | " + " | ".join(f"{p}: on hand / short" for p in policies) + " |"
    rule = "|---:|---:|" + "---:|" * len(policies)
    lines = [
        f"### Around the peaks: {scenario}",
        "",
        "Means per period of the season cycle over every env and period after the warm-up "
        "(the evaluation noise): stock on hand at the start of the period, and demand "
        "lost or backlogged.",
        "",
        head,
        rule,
    ]
    for phase in phases:
        cells = [f"{by[p].on_hand[phase]:.1f} / {by[p].short[phase]:.2f}" for p in policies]
        lines.append(f"| {phase} | {first.demand[phase]:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_season_profile(profile: pd.DataFrame, path: Path, title: str = "") -> None:
    """Stock on hand at the start of each period of the cycle (top) and demand short
    (bottom), one line per policy, the mean demand in grey."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5.0), sharex=True)
    first = True
    for i, (name, part) in enumerate(profile.groupby("policy", sort=False)):
        color = f"C{i % 10}"
        if first:
            top.plot(part.phase, part.demand, color="0.5", lw=1, ls="--", label="mean demand")
            first = False
        top.plot(part.phase, part.on_hand, color=color, lw=1.4, marker=".", label=name)
        bottom.plot(part.phase, part.short, color=color, lw=1.4, marker=".", label=name)
    top.set_ylabel("on hand at start\n(units)")
    bottom.set_ylabel("lost or backlogged\n(units per period)")
    bottom.set_xlabel("period of the season cycle")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def write_season_profile(
    net: Network, policies: dict[str, Policy], eval_cfg: Any, run_dir: Path, scenario: str
) -> pd.DataFrame | None:
    """The profile of a seasonal scenario saved into ``run_dir`` (CSV, PNG, Markdown
    section); None, writing nothing, when demand is not seasonal."""
    if net.demand.season_period <= 1 or net.demand.trace is not None:
        return None
    profile = season_profile(net, policies, eval_cfg)
    profile.to_csv(run_dir / f"season_profile_{scenario}.csv", index=False)
    plot_season_profile(profile, run_dir / f"season_profile_{scenario}.png", scenario)
    text = profile_markdown(profile, peak_window(net), scenario)
    (run_dir / f"season_profile_{scenario}.md").write_text(text)
    return profile
