"""experiments.benchmark: the smoke experiment end to end, and a submitit_local multirun in
which one failing job does not lose the other's results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    out = run_cli("experiment=smoke", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["experiment"] == "smoke"
    assert any(line.startswith("tensorboard --logdir ") for line in lines)
    assert "| policy | kind | cost |" in out.stdout
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == COLUMNS
    assert set(df.policy) == {"base_stock", "ppo[seed=0]", "hdpo[seed=0]"}
    best = df[df.kind == "baseline (best)"].iloc[0]
    assert best.diff_vs_best == 0.0
    agent = df[df.kind == "agent"].sort_values("cost_mean").iloc[0]
    assert summary["lost_sales"]["agent_cost"] == pytest.approx(agent.cost_mean)
    # The paired difference is the difference of means (same replications).
    assert agent.diff_vs_best == pytest.approx(agent.cost_mean - best.cost_mean)
    for png in ("learning_curves.png", "frontier.png", "trajectories_lost_sales.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert "## lost_sales" in (tmp_path / "report.md").read_text()


def test_submitit_local_multirun_keeps_results_of_jobs_that_succeed(tmp_path):
    out = run_cli(
        "-m",
        "experiment=smoke",
        "benchmark.baselines=[]",
        "hydra/launcher=submitit_local",
        "benchmark.scenarios.0.env=lost_sales,no_such_preset",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode != 0  # the sweep reports the failed job...
    good = pd.read_csv(tmp_path / "0" / "results.csv")  # ...and keeps the other's results
    assert list(good.policy) == ["ppo[seed=0]", "hdpo[seed=0]"]
    assert (tmp_path / "0" / "report.md").exists()
    error = json.loads((tmp_path / "1" / "error.json").read_text())
    assert "no_such_preset" in error["error"] and "benchmark.scenarios" in error["error"]
