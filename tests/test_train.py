"""experiments.train: config-level smoke runs, resume, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from agents.training import train_agent
from envs.presets import CONF_DIR, make_network

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "agent.num_envs=2",
    "agent.model.n_steps=64",
    "agent.model.batch_size=64",
    "agent.model.n_epochs=1",
    "train.total_timesteps=256",
    "train.eval_every=128",
    "train.checkpoint_every=128",
    "train.eval.envs=4",
    "train.eval.periods=60",
    "train.eval.warmup=10",
    "train.final_eval.envs=8",
    "train.final_eval.periods=80",
    "train.final_eval.warmup=10",
    "train.tune.envs=4",
    "train.tune.periods=60",
    "train.tune.warmup=10",
    "train.tune.eval_envs=4",
    "train.tune.eval_periods=60",
    "train.tune.eval_warmup=10",
]
NO_BASELINES = ["train.baselines=[]", "train.optimal=false"]


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def run_cli(*args: str, module: str = "experiments.train") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_train_entry_point_writes_results_and_prints_json_last(tmp_path):
    out = run_cli("env=lost_sales", "agent=ppo", *TINY, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    line = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "env",
        "agent",
        "cost_mean",
        "cost_ci95",
        "best_baseline",
        "best_baseline_cost",
        "gap_pct",
        "fill_rate",
        "train_seconds",
        "optimum_cost",
        "gap_to_optimum_pct",
    ):
        assert key in line, key
    assert line["env"] == "lost_sales" and line["agent"] == "ppo"
    gap = 100 * (line["cost_mean"] - line["best_baseline_cost"]) / line["best_baseline_cost"]
    assert line["gap_pct"] == pytest.approx(gap)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"] == line
    # progress when stderr is not a terminal: tuning, training and each evaluation are
    # logged to the console and the run's log file; the TensorBoard command is printed
    assert out.stdout.strip().splitlines()[-2] == f"tensorboard --logdir {tmp_path / 'tb'}"
    run_log = (tmp_path / "train.log").read_text()
    for text in ("tuning BaseStock: done", "/256 steps (", "eval at 256 steps"):
        assert text in run_log and text in out.stdout + out.stderr, text
    assert (tmp_path / "config.yaml").exists() and (tmp_path / ".hydra" / "config.yaml").exists()
    for name in ("checkpoint.json", "parameters.pt", "vecnormalize.npz"):
        assert (tmp_path / "best" / name).exists()
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.zip"))


def test_incompatible_agent_and_missing_checkpoint_exit_2_with_one_line(tmp_path):
    out = run_cli("agent=sac", "env.action_mode=discrete", f"hydra.run.dir={tmp_path / 'a'}")
    assert out.returncode == 2
    assert "agent=sac is incompatible with env.action_mode=discrete" in out.stderr
    assert "Traceback" not in out.stderr
    missing = tmp_path / "no_such_run" / "checkpoints" / "last"
    out = run_cli(*NO_BASELINES, f"train.resume={missing}", f"hydra.run.dir={tmp_path / 'b'}")
    assert out.returncode == 2
    assert "train.resume" in out.stderr and str(missing) in out.stderr


def test_resume_continues_from_checkpoint(tmp_path):
    cfg = compose_train("env=lost_sales", *TINY)
    net = make_network(cfg.env)
    first = train_agent(net, cfg.env, cfg.agent, cfg.train, 0, tmp_path / "first")
    assert first.timesteps == 256
    last = tmp_path / "first" / "checkpoints" / "last"
    steps = sorted(p.name for p in (tmp_path / "first" / "checkpoints").glob("step_*"))
    assert steps == ["step_0000000128", "step_0000000256"]
    cfg2 = compose_train(
        "env=lost_sales", *TINY, "train.total_timesteps=512", f"train.resume={last}"
    )
    second = train_agent(net, cfg2.env, cfg2.agent, cfg2.train, 0, tmp_path / "second")
    # It continued the count (256 trained, 256 more), not restarted from zero.
    assert second.timesteps == 512
    assert [h["timesteps"] for h in second.history][0] > 256
    # The VecNormalize statistics were restored, then kept updating.
    before = float(np.load(last / "vecnormalize.npz")["obs_count"])
    after = second.policy.vecnormalize
    assert after.obs_rms.count > before > 256
    assert np.isfinite(second.history[-1]["cost_mean"])


def test_a_saved_agent_is_evaluated_again_from_its_run_dir(tmp_path):
    """policy=agent policy.run=<train run dir> evaluates the saved agent on the common noise;
    AgentPolicy.from_run gives the same policy in Python."""
    from agents.policy import AgentPolicy
    from baselines.evaluation import evaluate

    run_dir = tmp_path / "run"
    out = run_cli("env=lost_sales", "agent=ppo", *TINY, *NO_BASELINES, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    noise = ["eval.envs=8", "eval.periods=80", "eval.warmup=10", "eval.seed=5"]
    out = run_cli(
        "policy=agent",
        f"policy.run={run_dir}",
        *noise,
        f"hydra.run.dir={tmp_path / 'eval'}",
        module="experiments.evaluate",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["policy"] == "ppo" and summary["params"]["checkpoint"] == "best"

    policy = AgentPolicy.from_run(run_dir)
    again = evaluate(policy.net, policy, num_envs=8, periods=80, warmup=10, seed=5)
    assert again.cost_mean == pytest.approx(summary["cost_mean"], rel=1e-12)
    assert AgentPolicy.from_run(run_dir, 128).net.node_names == ("supplier", "store")
    with pytest.raises(ValueError, match=r"policy.checkpoint: no checkpoint '999' in .*step_"):
        AgentPolicy.from_run(run_dir, "999")
    with pytest.raises(ValueError, match="policy.run: .* is not a training run"):
        AgentPolicy.from_run(tmp_path)
