"""A finished training run as a policy again: ``experiments.evaluate policy=agent`` and
``AgentPolicy.from_run`` both come here.

A run directory (``experiments.train``'s, or a benchmark's ``runs/<scenario>/<agent>``)
holds its resolved ``config.yaml`` and the saved agents: ``best/`` (lowest cost on the
fixed evaluation noise), ``final/`` (end of training), ``checkpoints/last`` and
``checkpoints/step_<t>``. The model is rebuilt from that config (plain YAML, read with
OmegaConf, never executed) and only numbers are loaded from the checkpoint
(``agents.checkpoint``), so evaluating someone else's run directory runs no code of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from baselines.policy_base import Policy
from envs.network import Network
from envs.presets import make_network

CHECKPOINTS = ("best", "final", "last")
"""Named checkpoints; an integer picks ``checkpoints/step_<t>``."""


@dataclass
class SavedRun:
    """A training run directory: its resolved config and network."""

    directory: Path
    config: DictConfig
    net: Network

    @staticmethod
    def open(run_dir: str | Path, option: str = "policy.run") -> SavedRun:
        directory = Path(run_dir)
        config_file = directory / "config.yaml"
        if not config_file.is_file():
            raise ValueError(f"{option}: {str(directory)!r} is not a training run (no config.yaml)")
        config = OmegaConf.load(config_file)
        if "agent" not in config or "env" not in config:
            raise ValueError(f"{option}: {str(config_file)!r} is not a training run's config")
        return SavedRun(directory, config, make_network(config.env))

    def checkpoint(self, which: str | int = "best", option: str = "policy.checkpoint") -> Path:
        """The directory of a saved agent: ``best``, ``final``, ``last`` or a timestep."""
        if str(which) in ("best", "final"):
            path = self.directory / str(which)
        elif str(which) == "last":
            path = self.directory / "checkpoints" / "last"
        elif str(which).isdigit():  # step_<t>, zero-padded to the trainer's width
            steps = {int(p.name[5:]): p for p in (self.directory / "checkpoints").glob("step_*")}
            path = steps.get(int(which), self.directory / "checkpoints" / f"step_{which}")
        else:
            raise ValueError(
                f"{option}: must be one of {list(CHECKPOINTS)} or a timestep, got {which!r}"
            )
        if not path.is_dir():
            saved = sorted(p.name for p in (self.directory / "checkpoints").glob("step_*"))
            raise ValueError(
                f"{option}: no checkpoint {which!r} in {str(self.directory)!r} "
                f"(periodic ones: {saved})"
            )
        return path


def load_run_policy(run_dir: str | Path, checkpoint: str | int = "best") -> tuple[Policy, SavedRun]:
    """The saved agent of a training run (an SB3 agent or HDPO) as a batched policy, with
    the run's network."""
    from agents.hdpo import is_hdpo, load_hdpo_policy
    from agents.training import load_policy

    run = SavedRun.open(run_dir)
    path = run.checkpoint(checkpoint)
    agent, env = run.config.agent, run.config.env
    if is_hdpo(agent):
        return load_hdpo_policy(run.net, path, str(env.action_mode)), run
    return load_policy(agent, env, run.net, path), run
