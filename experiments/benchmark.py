"""Benchmark policies on scenarios with common random numbers.

    python -m experiments.benchmark experiment=default
    python -m experiments.benchmark experiment=lost_sales_vi
    python -m experiments.benchmark -m experiment=smoke seed=0,1 hydra/launcher=joblib
    python -m experiments.benchmark -m experiment=smoke seed=0,1 hydra/launcher=submitit_local
    python -m experiments.benchmark -m experiment=default seed=0,1,2 hydra/launcher=slurm

For each scenario (an env preset plus overrides): tune the baselines
(``baselines.registry``), train each agent with each of its seeds (``agents.training``),
then evaluate every policy — baselines, agents, the value-iteration optimum where it
applies — on the same evaluation noise. Writes ``results.csv``, ``report.md`` and PNG
plots into the run dir (a seasonal scenario adds its profile around the peaks,
``experiments.season_profile``) (each multirun job into its own), prints the Markdown table, the
``tensorboard --logdir`` command and one JSON line last.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

import envs.presets  # noqa: F401  (registers the env schema in Hydra's ConfigStore)
from agents.hdpo import check_settings, is_hdpo
from baselines.evaluation import EvalResult
from baselines.kpi import outage_kpis, outage_window
from baselines.references import OPTIMAL, evaluate_all, make_references, reference_names
from envs.presets import CONF_DIR, make_network
from experiments.job import finite, run_job, run_main, write_results
from experiments.params import BenchmarkConfig, TrainConfig, check
from experiments.plots import (
    plot_cost_breakdown,
    plot_frontier,
    plot_learning_curves,
    plot_node_panels,
    plot_outage,
    plot_scenarios,
    plot_skus,
)
from experiments.report import (
    COLUMNS,
    SKU_COLUMNS,
    markdown_table,
    scenario_rows,
    seed_average,
    sku_markdown,
    sku_rows,
)
from experiments.season_profile import write_season_profile
from experiments.train import train

log = logging.getLogger(__name__)


def train_config(
    env: str, env_overrides: list[str], agent: str, overrides: list[str]
) -> DictConfig:
    """The ``train`` config of one agent on one scenario, composed like the train entry
    point's (so ``agent.model.*`` and ``train.*`` overrides mean the same thing), but
    without the per-pair defaults of ``conf/env_agent``: a benchmark states its agents'
    settings itself (``benchmark.train``, each agent's ``overrides``)."""
    args = [f"env={env}", f"agent={agent}", "~env_agent", *env_overrides, *overrides]
    return compose(config_name="train", overrides=args)


def check_benchmark(cfg: DictConfig) -> None:
    """Every parameter of a benchmark, before any work: its own, each scenario's env and
    network, and the composed train config of each agent on each scenario."""
    check(BenchmarkConfig, cfg)
    bench = cfg.benchmark
    for scenario in bench.scenarios:
        name = str(scenario.name)
        env_overrides = [str(o) for o in scenario.overrides]
        try:  # the app's search path: invnet's conf/ and any --config-dir
            base = compose(config_name="train", overrides=[f"env={scenario.env}", *env_overrides])
        except MissingConfigException:
            raise ValueError(
                f"benchmark.scenarios: scenario {name!r} has unknown env {scenario.env!r}; "
                f"known presets: {known_presets()}"
            ) from None
        net = make_network(base.env)
        for spec in bench.agents:
            overrides = agent_overrides(bench, spec)
            tcfg = train_config(str(scenario.env), env_overrides, str(spec.agent), overrides)
            check(TrainConfig, tcfg)
            if is_hdpo(tcfg.agent):
                check_settings(net, tcfg.env, tcfg.agent)


def agent_overrides(bench: DictConfig, spec: DictConfig) -> list[str]:
    """The overrides of one agent's train config: its own, then ``benchmark.train``."""
    overrides = [str(o) for o in spec.overrides]
    return overrides + [f"train.{k}={v}" for k, v in _flat(bench.train)]


def run_scenario(
    cfg: DictConfig, scenario: DictConfig, run_dir: Path
) -> tuple[list[dict], dict, dict[str, EvalResult]]:
    """Every policy on one scenario; returns the table rows, the learning curves and the
    evaluation results."""
    bench = cfg.benchmark
    name = str(scenario.name)
    env_overrides = [str(o) for o in scenario.overrides]
    base = compose(config_name="train", overrides=[f"env={scenario.env}", *env_overrides])
    env_cfg = base.env
    net = make_network(env_cfg)
    baselines = reference_names(list(scenario.baselines or bench.baselines), net, bench.optimal)
    log.info("%s: tuning %s", name, [b.name for b in baselines])
    t0 = time.time()
    tuned = make_references(baselines, net, tune=bench.tune)
    tune_seconds = time.time() - t0
    policies = {n: p for n, (p, _) in tuned.items()}
    kinds = {n: ("optimum" if n == OPTIMAL else "baseline") for n in policies}
    on_train_eval = evaluate_all(net, policies, base.train.eval)
    references = {n: r.cost_mean for n, r in on_train_eval.items()}

    agents: dict[str, Any] = {}
    seeds: dict[str, Any] = {}
    seconds: dict[str, float] = {n: tune_seconds for n in policies if n != OPTIMAL}
    curves: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    seed_groups: dict[str, list[str]] = {}
    for spec in bench.agents:
        label = str(spec.name or spec.agent)
        overrides = agent_overrides(bench, spec)
        # A top-level seed (e.g. a sweep seed=0,1,2) is the agents' training seed.
        for seed in spec.seeds if cfg.get("seed") is None else [cfg.seed]:
            tcfg = train_config(str(scenario.env), env_overrides, str(spec.agent), overrides)
            run = run_dir / "runs" / name / f"{label}_seed{seed}"
            log.info("%s: training %s seed %s -> %s", name, label, seed, run)
            tcfg.seed = int(seed)
            trained = train(tcfg, net, run, references)
            key = f"{label}[seed={seed}]"
            agents[key] = trained.policy
            seeds[key] = int(seed)
            seconds[key] = trained.train_seconds
            curves[f"{name}/{key}"] = {"history": trained.history, "references": references}
            groups.setdefault(label, []).append(key)

    results = evaluate_all(net, {**policies, **agents}, bench.eval, record=100)
    for key in agents:
        kinds[key] = "agent"
    for label, keys in groups.items():
        if len(keys) > 1:
            avg = f"{label}[mean of {len(keys)} seeds]"
            results[avg] = seed_average([results[k] for k in keys])
            kinds[avg] = "agent"
            seconds[avg] = sum(seconds[k] for k in keys) / len(keys)
            seed_groups[avg] = keys
    plot_node_panels(results, net, run_dir / f"trajectories_{name}.png")
    plot_cost_breakdown(results, run_dir / f"cost_breakdown_{name}.png", name)
    outage = {}
    window = outage_window(net)
    if window is not None:
        warmup = int(bench.eval.warmup)
        outage = {
            k: outage_kpis(r.per_period, r.envs, window, warmup)
            for k, r in results.items()
            if r.per_period
        }
        plot_outage(results, window, run_dir / f"outage_{name}.png", name)
    write_season_profile(net, {**policies, **agents}, bench.eval, run_dir, name)
    rows = scenario_rows(name, results, kinds, seeds, seconds, seed_groups, outage)
    return rows, curves, results


def known_presets() -> list[str]:
    """The env presets on the app's search path (invnet's conf/ and any --config-dir)."""
    dirs = [CONF_DIR] + [
        Path(src.path)
        for src in HydraConfig.get().runtime.config_sources
        if src.schema == "file" and src.path
    ]
    return sorted({p.stem for d in dirs for p in (d / "env").glob("*.yaml")})


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    container = OmegaConf.to_container(d, resolve=True) if isinstance(d, DictConfig) else d
    out = []
    for k, v in container.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", "null" if v is None else v))
    return out


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    bench = cfg.benchmark
    start = time.time()
    (run_dir / "error.json").unlink(missing_ok=True)
    if not bench.scenarios:
        raise ValueError("benchmark.scenarios: empty; pick an experiment, e.g. experiment=default")
    check_benchmark(cfg)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    rows: list[dict] = []
    curves: dict[str, Any] = {}
    by_scenario: dict[str, dict[str, EvalResult]] = {}
    skus: list[dict] = []
    for scenario in bench.scenarios:
        scenario_rows_, scenario_curves, results = run_scenario(cfg, scenario, run_dir)
        rows += scenario_rows_
        skus += sku_rows(str(scenario.name), results)
        curves.update(scenario_curves)
        by_scenario[str(scenario.name)] = results
        # Written after every scenario: an interrupted benchmark keeps what it finished.
        pd.DataFrame(rows, columns=COLUMNS).to_csv(run_dir / "results.csv", index=False)
        if skus:
            pd.DataFrame(skus, columns=SKU_COLUMNS).to_csv(run_dir / "per_sku.csv", index=False)
    df = pd.DataFrame(rows, columns=COLUMNS)
    meta = {"name": bench.name, **OmegaConf.to_container(bench.eval, resolve=True)}
    report = markdown_table(df, meta)
    sku_df = pd.DataFrame(skus, columns=SKU_COLUMNS)
    if skus:
        report += "\n" + sku_markdown(sku_df)
    for scenario in bench.scenarios:  # seasonal scenarios: what happens around the peaks
        section = run_dir / f"season_profile_{scenario.name}.md"
        if section.exists():
            report += "\n" + section.read_text()
    (run_dir / "report.md").write_text(report)
    if curves:
        plot_learning_curves(curves, run_dir / "learning_curves.png")
    plot_frontier(df, run_dir / "frontier.png")
    # The best tuned baseline of each scenario, as scenario_rows marked it.
    best_rows = df[df.kind == "baseline (best)"]
    if len(by_scenario) > 1:
        best = dict(zip(best_rows.scenario, best_rows.policy))
        if len(best) == len(by_scenario):
            plot_scenarios(by_scenario, best, run_dir / "scenarios.png")
    if skus:
        plot_skus(sku_df, dict(zip(best_rows.scenario, best_rows.policy)), run_dir / "skus.png")
    print(report)
    print(f"tensorboard --logdir {run_dir / 'runs'}")
    summary = {
        "experiment": str(bench.name),
        "wall_seconds": time.time() - start,
        "run_dir": str(run_dir),
    }
    for scenario, part in df.groupby("scenario", sort=False):
        best_agent = part[part.kind.str.startswith("agent")].sort_values("cost_mean").head(1)
        baseline = best_rows[best_rows.scenario == scenario]
        entry: dict[str, Any] = {}
        if len(baseline):
            entry.update(
                best_baseline=baseline.policy.iloc[0],
                best_baseline_cost=baseline.cost_mean.iloc[0],
            )
        if len(best_agent):
            a = best_agent.iloc[0]
            entry.update(
                best_agent=a.policy,
                agent_cost=a.cost_mean,
                diff_vs_best=a.diff_vs_best,
                diff_ci95=a.diff_ci95,
                gap_to_optimum_pct=None
                if math.isnan(a.gap_to_optimum_pct)
                else a.gap_to_optimum_pct,
            )
        summary[str(scenario)] = entry
    write_results(run_dir, {"summary": summary, "rows": rows})
    return finite(summary)


@hydra.main(config_path="../conf", config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    return run_job(lambda run_dir: run(cfg, run_dir))


if __name__ == "__main__":
    run_main(main)
