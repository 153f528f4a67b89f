"""The life of one Hydra job, shared by every entry point.

``run_main`` wraps an entry point so that bad input, Hydra's own composition errors
included, prints one line and exits 2. ``run_job`` runs the job in its run directory,
reports an error with ``fail`` (one line on stderr, ``error.json``; raised again in a
multirun so the launcher marks only that job failed), prints the summary as the last line
of stdout and returns the job's objective for a sweeper. ``write_results`` and ``finite``
are the one way results reach ``results.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def finite(value: Any) -> Any:
    """``value`` for JSON: numpy arrays and scalars as Python lists and numbers, NaN/inf as
    None, keys as strings, anything else JSON does not know as its ``str``."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if hasattr(value, "tolist"):
        return finite(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def write_results(run_dir: Path, results: dict) -> None:
    """``results.json`` of a run: every entry point writes it here, through ``finite``."""
    (Path(run_dir) / "results.json").write_text(json.dumps(finite(results), indent=1))


def fail(err: BaseException, run_dir: Path) -> None:
    """Report an error of a Hydra job: one line on stderr and ``error.json`` in the run dir.

    In a multirun the error is raised again so Hydra marks only this job FAILED and the
    launcher runs (and keeps the results of) the others; a single run exits with status 2.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.json").write_text(
        json.dumps({"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()})
    )
    print(f"error: {one_line(err)}", file=sys.stderr)
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise err
    if not isinstance(err, ValueError):
        raise err
    sys.exit(2)


def env_preset(cfg: Any) -> str:
    """The env preset a job ran: Hydra's choice (``env=hub6``, also from a --config-dir),
    which a preset building on another through its defaults may not repeat in ``name``."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("env")
        if choice:
            return str(choice)
    return str(cfg.env.name)


def one_line(err: BaseException) -> str:
    """An error (and its cause, as Hydra's composition errors carry the reason there) as
    one line."""
    text = str(err).split("Config search path")[0]
    override = getattr(err, "override", None)  # hydra.errors.OverrideParseException
    if override and str(override) not in text:
        text = f"override {override!r}: {text}"
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += f" ({err.__cause__})"
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= 400 else line[:397] + "..."


def run_main(main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` entry point so that bad input — Hydra's own composition and
    override errors included — prints one line on stderr and exits with status 2.

    Hydra would print its errors over many lines and exit 1; with ``HYDRA_FULL_ERROR`` set
    it raises them instead, and they are reported here. Errors of a job itself are
    reported by ``run_job``; in a multirun, a failed job's error is in its ``error.json``
    and raised again once the other jobs have run, which ends here too.
    """
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except yaml.YAMLError as err:  # a config file Hydra reads: the message names file and line
        print(f"error: YAML syntax error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


def run_job(run: Callable[[Path], dict]) -> float | None:
    """Run one Hydra job: ``run(run_dir)`` in the job's run dir; an error is reported by
    ``fail`` (one line on stderr, error.json); the summary is printed as the last stdout line.

    Returns the job's objective, its ``cost_mean`` (what a sweeper such as
    ``hydra/sweeper=optuna`` minimises), or None when the summary has none.
    """
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run(run_dir)
    except Exception as err:  # noqa: BLE001 - reported by fail(): stderr, error.json, exit/raise
        fail(err, run_dir)
    print(json.dumps(finite(summary)))
    objective = summary.get("cost_mean")
    return None if objective is None else float(objective)


def finish_run(cfg: Any, result: dict, echo: bool = True) -> None:
    """Write the resolved config and ``results.json`` into the Hydra run dir and (with
    ``echo``) print the result as the last line of stdout (one JSON object)."""
    from omegaconf import OmegaConf

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    write_results(run_dir, result)
    if echo:
        print(json.dumps(finite(result)))
