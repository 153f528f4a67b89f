"""A researcher's own presets in a config directory of theirs work in every entry point and
in gymnasium.make / make_vec, and runs are named after the preset actually used."""

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.presets import load_env_config

ROOT = Path(__file__).resolve().parent.parent

# Builds on invnet's lost_sales preset and does not repeat its name.
HUB6 = """\
defaults:
  - lost_sales
  - _self_
penalty: 19
episode_length: 50
"""


@pytest.fixture
def config_dir(tmp_path) -> Path:
    (tmp_path / "mycfg" / "env").mkdir(parents=True)
    (tmp_path / "mycfg" / "env" / "hub6.yaml").write_text(HUB6)
    return tmp_path / "mycfg"


def test_gym_make_and_make_vec_take_a_config_dir(config_dir):
    cfg = load_env_config("hub6", config_dir=config_dir)
    assert cfg.penalty == 19 and cfg.episode_length == 50
    env = gym.make("invnet/Custom-v0", preset="hub6", config_dir=str(config_dir))
    assert env.unwrapped.net.node_names == ("supplier", "store")
    vec = gym.make_vec(
        "invnet/Custom-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        preset="hub6",
        config_dir=config_dir,
    )
    assert vec.unwrapped.sim.episode_length == 50  # the preset's, not the Custom id's 200
    with pytest.raises(ValueError, match=r"env: unknown preset 'hub7'; known presets: .*'hub6'"):
        load_env_config("hub7", config_dir=config_dir)


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_evaluate_and_benchmark_run_an_own_preset(config_dir, tmp_path):
    out = run(
        "experiments.evaluate",
        f"--config-dir={config_dir}",
        "env=hub6",
        "eval.envs=4",
        "eval.periods=50",
        "eval.warmup=5",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["env"] == "hub6"
    # the run directory names the preset and the policy
    assert len(list((tmp_path / "outputs" / "evaluate" / "hub6" / "base_stock").iterdir())) == 1

    out = run(
        "experiments.benchmark",
        f"--config-dir={config_dir}",
        "experiment=smoke",
        "benchmark.agents=[]",
        "benchmark.scenarios.0.env=hub6",
        f"hydra.run.dir={tmp_path / 'bench'}",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "base_stock" in (tmp_path / "bench" / "report.md").read_text()

    out = run(
        "experiments.benchmark",
        f"--config-dir={config_dir}",
        "experiment=smoke",
        "benchmark.agents=[]",
        "benchmark.scenarios.0.env=hub7",
        f"hydra.run.dir={tmp_path / 'bench2'}",
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "unknown env 'hub7'" in out.stderr and "'hub6'" in out.stderr
