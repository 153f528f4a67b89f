"""experiments.benchmark: the smoke experiment end to end; a multirun on the slurm
launcher's local twin in which one failing job does not lose the other's results, gathered
by experiments.collect; an Optuna sweep minimising the training entry point's cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.report import COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_smoke_benchmark_writes_table_plots_and_json(tmp_path):
    # a top-level seed is the agent's training seed (it replaces the agent's seeds list)
    out = run_cli("experiment=smoke", "seed=3", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["experiment"] == "smoke"
    assert any(line.startswith("tensorboard --logdir ") for line in lines)
    assert "| policy | kind | cost |" in out.stdout
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == COLUMNS
    assert set(df.policy) == {"base_stock", "ppo[seed=3]", "hdpo[seed=3]"}
    best = df[df.kind == "baseline (best)"].iloc[0]
    assert best.diff_vs_best == 0.0
    agent = df[df.kind == "agent"].sort_values("cost_mean").iloc[0]
    assert summary["lost_sales"]["agent_cost"] == pytest.approx(agent.cost_mean)
    # The paired difference is the difference of means (same replications).
    assert agent.diff_vs_best == pytest.approx(agent.cost_mean - best.cost_mean)
    pngs = ("learning_curves.png", "frontier.png", "trajectories_lost_sales.png")
    for png in (*pngs, "cost_breakdown_lost_sales.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "## lost_sales" in (tmp_path / "report.md").read_text()


@pytest.mark.slow  # about 45 s: three local submitit jobs, each a benchmark
def test_slurm_local_multirun_keeps_results_of_jobs_that_succeed(tmp_path):
    out = run_cli(
        "-m",
        "experiment=smoke",
        "benchmark.baselines=[]",
        "hydra/launcher=slurm_local",
        "benchmark.scenarios.0.env=lost_sales,no_such_preset",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode != 0  # the sweep reports the failed job...
    good = pd.read_csv(tmp_path / "0" / "results.csv")  # ...and keeps the other's results
    assert list(good.policy) == ["ppo[seed=0]", "hdpo[seed=0]"]
    assert (tmp_path / "0" / "report.md").exists()
    error = json.loads((tmp_path / "1" / "error.json").read_text())
    assert "no_such_preset" in error["error"] and "benchmark.scenarios" in error["error"]
    # the launcher really was the slurm config's local twin (same resources)
    submitted = list((tmp_path / ".submitit").rglob("*_submitted.pkl"))
    assert submitted, "no submitit job folder"

    # experiments.collect gathers both jobs, the failed one with its error
    collected = subprocess.run(
        [sys.executable, "-m", "experiments.collect", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    table = pd.read_csv(tmp_path / "collected.csv")
    assert list(table.status) == ["ok", "failed"]
    assert list(table["override:benchmark.scenarios.0.env"]) == ["lost_sales", "no_such_preset"]
    assert "no_such_preset" in table.error.iloc[1]
    assert "| failed" in (tmp_path / "collected.md").read_text()


def test_collect_names_a_directory_without_jobs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "experiments.collect", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: multirun_dir: no Hydra job")


def test_optuna_sweep_minimises_the_train_cost(tmp_path):
    """hydra/sweeper=ppo_search runs trials of experiments.train and reads back each
    trial's cost_mean (the value main() returns) as its objective."""
    smoke = [
        "train.total_timesteps=128",
        "agent.num_envs=2",
        "agent.model.n_steps=64",
        "agent.model.batch_size=64",
        "agent.model.n_epochs=1",
        "train.eval_every=128",
        "train.checkpoint_every=128",
        "train.baselines=[base_stock]",
        "train.optimal=false",
        "train.eval={envs: 4, periods: 60, warmup: 10, seed: 2024}",
        "train.final_eval={envs: 4, periods: 60, warmup: 10, seed: 12345}",
        "train.tune={envs: 4, periods: 60, warmup: 10, eval_envs: 4}",
    ]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.train",
            "-m",
            "hydra/sweeper=ppo_search",
            "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={tmp_path}",
            *smoke,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    import yaml

    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    costs = [json.loads((tmp_path / str(j) / "results.json").read_text()) for j in (0, 1)]
    trial_costs = [c["summary"]["cost_mean"] for c in costs]
    assert best["best_value"] == pytest.approx(min(trial_costs))
    assert set(best["best_params"]) >= {"agent.model.learning_rate", "agent.model.gamma"}


def _result(costs: list[float]):
    from baselines.evaluation import EvalResult

    per_env = np.array(costs)
    zeros = np.zeros(1)
    return EvalResult(
        cost_per_env=per_env,
        cost_mean=float(per_env.mean()),
        cost_ci95=0.0,
        breakdown={"holding": float(per_env.mean())},
        fill_rate=1.0,
        fill_rate_per_node=zeros,
        cycle_service_level=zeros,
        mean_on_hand=zeros,
        transfer_volume=0.0,
        inventory_turns=1.0,
        order_lead_time={"same_period": 1.0, "next_period": 0.0, "later": 0.0},
        order_lead_time_per_point=np.zeros((1, 3)),
        mean_order_lead_time=0.0,
        landed_cost_per_unit=1.0,
        dropship_volume=0.0,
        inventory_turns_per_node=zeros,
        periods=10,
        warmup=0,
        envs=len(costs),
        seed=1,
    )


def test_mean_of_seeds_row_has_a_ci_over_seeds():
    """Three seeds whose paired differences with the baseline are 1, 2 and 6: the mean row's
    difference is 3 with the t interval of those three numbers, not of the replications."""
    from scipy import stats

    from experiments.report import scenario_rows, seed_average

    base = _result([10.0, 12.0, 14.0, 16.0])
    seeds = {
        f"ppo[seed={i}]": _result([c + d for c in base.cost_per_env])
        for i, d in enumerate((1, 2, 6))
    }
    results = {
        "base_stock": base,
        **seeds,
        "ppo[mean of 3 seeds]": seed_average(list(seeds.values())),
    }
    kinds = {"base_stock": "baseline", **{k: "agent" for k in list(results)[1:]}}
    rows = scenario_rows("s", results, kinds, seed_groups={"ppo[mean of 3 seeds]": list(seeds)})
    mean_row = rows[-1]
    half = stats.t.ppf(0.975, 2) * np.std([1, 2, 6], ddof=1) / np.sqrt(3)
    assert mean_row["diff_vs_best"] == pytest.approx(3.0)
    assert mean_row["diff_ci95"] == pytest.approx(half)
    assert mean_row["cost_ci95"] == pytest.approx(half)  # the same spread, over seed means
    assert rows[1]["diff_ci95"] == 0.0  # one seed: a constant paired difference


def test_collect_gives_the_mean_and_ci_over_seeds(tmp_path):
    from scipy import stats

    from experiments.collect import across_seeds, collect

    costs = {(4, 0): 5.0, (4, 1): 6.0, (4, 2): 8.0, (9, 0): 7.0, (9, 1): 7.5, (9, 2): 7.0}
    for job, ((penalty, seed), cost) in enumerate(costs.items()):
        (tmp_path / str(job) / ".hydra").mkdir(parents=True)
        (tmp_path / str(job) / ".hydra" / "overrides.yaml").write_text(
            f"- env.penalty={penalty}\n- seed={seed}\n"
        )
        summary = {"cost_mean": cost, "seed": seed}
        (tmp_path / str(job) / "results.json").write_text(json.dumps({"summary": summary}))
    table = across_seeds(collect(tmp_path))
    assert list(table["override:env.penalty"]) == ["4", "9"]
    assert list(table.seeds) == ["0,1,2", "0,1,2"]
    assert table.cost_mean_mean.tolist() == pytest.approx([19 / 3, 21.5 / 3])
    half = stats.t.ppf(0.975, 2) * np.std([5, 6, 8], ddof=1) / np.sqrt(3)
    assert table.cost_mean_ci95_over_seeds.iloc[0] == pytest.approx(half)


@pytest.mark.parametrize(
    "experiment",
    sorted(
        p.stem
        for p in (__import__("pathlib").Path(__file__).parent.parent / "conf" / "experiment").glob(
            "*.yaml"
        )
    ),
)
def test_every_experiment_passes_the_benchmark_checks(experiment):
    """Each study's config composes, and every scenario's network and every agent's train
    config on it pass the checks the benchmark runs before any work."""
    from hydra import compose, initialize_config_dir

    from envs.presets import CONF_DIR
    from experiments.benchmark import check_benchmark

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=[f"experiment={experiment}"])
        check_benchmark(cfg)
