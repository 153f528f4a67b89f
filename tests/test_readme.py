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
