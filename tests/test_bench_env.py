"""The throughput benchmark runs end to end and prints its JSON line last."""

import json
import subprocess
import sys

import pytest


def test_bench_env_prints_json_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.bench_env",
        "env=owmr_transship",
        "num_envs=32",
        "steps=5",
        "repeats=1",
        "warmup_steps=1",
        "loop_envs=2",
        "loop_steps=3",
        "memory_env_steps=64",
        f"hydra.run.dir={tmp_path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env"] == "owmr_transship"
    assert result["num_envs"] == 32
    assert result["env_steps_per_s"] > 0 and result["loop_env_steps_per_s"] > 0
    ratio = result["env_steps_per_s"] / result["loop_env_steps_per_s"]
    assert abs(result["speedup_vs_loop"] - ratio) < 0.01 * ratio + 0.1  # both rounded
    assert 0 < result["state_mb"] < 1
    assert json.loads((tmp_path / "results.json").read_text()) == result
    assert (tmp_path / "config.yaml").exists()


def test_bench_train_reports_env_share(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.bench_train",
        "env=owmr_transship",
        "agent=ppo",
        "agent.num_envs=2",
        "agent.model.n_steps=32",
        "agent.model.batch_size=32",
        "agent.model.n_epochs=1",
        "train.total_timesteps=64",
        f"hydra.run.dir={tmp_path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env"] == "owmr_transship" and result["num_envs"] == 2
    assert 0 < result["env_s"] < result["wall_s"]
    assert 0 < result["env_share_pct"] < 100


def test_bench_env_sweep_prints_both_curves(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.bench_env",
        "mode=sweep",
        "env=lost_sales",
        "sweep.num_envs=[1,8]",
        "sweep.sizes=[[3,2],[2,4]]",
        "sweep.size_num_envs=4",
        "sweep.node_steps=200",
        "steps=10",
        "repeats=1",
        "warmup_steps=1",
        f"hydra.run.dir={tmp_path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p["num_envs"] for p in result["by_num_envs"]] == [1, 8]
    assert [p["num_nodes"] for p in result["by_size"]] == [10, 11]
    for point in result["by_num_envs"] + result["by_size"]:
        assert point["node_steps_per_s"] == pytest.approx(
            point["env_steps_per_s"] * point["num_nodes"], rel=1e-3
        )
    assert result["peak_rss_mb"] > 0
