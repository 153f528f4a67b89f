"""The README's Python snippets run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_snippets_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["obs"].shape == (1024, len(namespace["vec"].unwrapped.observation_names))
    assert namespace["costs"].total.shape == (64,)
    # the other RL libraries' snippets
    assert namespace["rollout"]["next", "truncated"].sum() == 8  # every env crossed an end
    assert namespace["cl_obs"].shape == (8, len(namespace["cl_env"].unwrapped.observation_names))
    assert namespace["stats"].n_collected_episodes == 4


def readme_commands() -> list[str]:
    """Every ``python -m experiments.<entry point> ...`` command the README shows."""
    text = README.read_text()
    found = re.findall(r"python -m (experiments\.\w+)((?: +[^\s`|#]+)*)", text)
    return sorted({f"{module}{args}" for module, args in found})


def _placeholder_as_value(override: str) -> str:
    """``seed=S`` (a one-letter placeholder for a number) as ``seed=1``: the schemas
    type the values, so a placeholder must have the type of what it stands for."""
    key, sep, value = override.partition("=")
    return f"{key}=1" if sep and len(value) == 1 and value.isupper() else override


def test_every_readme_command_composes():
    """Each Hydra command in the README names options and keys that exist: composing its
    overrides (a sweep's first value, placeholders kept as strings) must succeed."""
    from hydra import compose, initialize_config_dir

    from envs.presets import CONF_DIR

    apps = {
        "experiments.train": "train",
        "experiments.evaluate": "evaluate",
        "experiments.benchmark": "benchmark",
        "experiments.bench_env": "bench_env",
        "experiments.bench_train": "train",
    }
    checked = 0
    for command in readme_commands():
        module, *args = command.split()
        if module not in apps or "--config-dir" in args or any("<B>" in a for a in args):
            continue  # collect is a plain CLI; own presets are tested in test_own_presets
        if any(a.startswith(("'", '"')) for a in args):
            continue  # a quoted override spanning spaces (composed by the HDPO tests)
        overrides = [  # "[x]" marks an optional override; a sweep's first value
            _placeholder_as_value(a.strip("[]").split(",")[0].replace("<stamp>", "STAMP"))
            for a in args
            if a not in ("-m", "...") and "<preset>" not in a
        ]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            compose(apps[module], overrides=overrides, return_hydra_config=True)
        checked += 1
    assert checked >= 20
