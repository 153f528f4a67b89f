"""Gather the jobs of a Hydra multirun into one table.

    python -m experiments.collect multirun/train/2026-12-01_10-00-00
    python -m experiments.collect multirun/evaluate/<stamp> --out sweep

Every job directory of a multirun holds ``.hydra/overrides.yaml`` (what the job was
given), and ``results.json`` when it finished or ``error.json`` when it failed. One row
per job: its number, its overrides (one column each), its status, the scalar entries of
its summary (``summary`` of a train/benchmark results.json, the whole file of an
evaluate one), and the error of a failed job. Writes ``<out>.csv`` and ``<out>.md``
(default ``<multirun dir>/collected``) and prints the Markdown table.

When the jobs differ in ``seed`` (``seed=0,1,2``), a second table gives, per setting of
the other overrides, the mean of ``cost_mean`` (and ``gap_to_optimum_pct`` where present)
over seeds with a 95% Student t interval over seeds (``<out>_across_seeds.csv``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from baselines.evaluation import ci95

METRICS = ("cost_mean", "gap_to_optimum_pct")


def job_dirs(multirun_dir: Path) -> list[Path]:
    """The job directories of a multirun, in job-number order."""
    jobs = [p.parent.parent for p in multirun_dir.rglob(".hydra/overrides.yaml")]
    return sorted(jobs, key=lambda p: (len(p.parts), p.name.zfill(8), str(p)))


def job_row(job: Path, root: Path) -> dict[str, Any]:
    """One job as a flat row (see the module docstring)."""
    row: dict[str, Any] = {"job": str(job.relative_to(root))}
    overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    for item in overrides:
        key, _, value = str(item).partition("=")
        row[f"override:{key.lstrip('+~')}"] = value
    results, error = job / "results.json", job / "error.json"
    if results.exists():
        data = json.loads(results.read_text())
        summary = data.get("summary", data) if isinstance(data, dict) else {}
        row["status"] = "ok"
        row.update({k: v for k, v in summary.items() if _scalar(v)})
    elif error.exists():
        row["status"] = "failed"
        row["error"] = json.loads(error.read_text()).get("error", "")
    else:
        row["status"] = "no result"
    return row


def collect(multirun_dir: Path) -> pd.DataFrame:
    """Every job of ``multirun_dir`` as one row; raises if there is no job."""
    if not multirun_dir.is_dir():
        raise ValueError(f"multirun_dir: not a directory: {str(multirun_dir)!r}")
    jobs = job_dirs(multirun_dir)
    if not jobs:
        where = str(multirun_dir)
        raise ValueError(f"multirun_dir: no Hydra job (.hydra/overrides.yaml) under {where!r}")
    return pd.DataFrame([job_row(job, multirun_dir) for job in jobs])


def across_seeds(df: pd.DataFrame) -> pd.DataFrame | None:
    """Mean and 95% CI over seeds of each metric, per setting of the other overrides; None
    when the jobs do not differ in ``seed``."""
    if "override:seed" not in df or df["override:seed"].nunique() < 2:
        return None
    done = df[df.status == "ok"]
    settings = [c for c in df.columns if c.startswith("override:") and c != "override:seed"]
    rows = []
    groups = done.groupby(settings, dropna=False, sort=False) if settings else [((), done)]
    for key, part in groups:
        row = dict(zip(settings, key if isinstance(key, tuple) else (key,)))
        row["seeds"] = ",".join(str(s) for s in part["override:seed"])
        for metric in (m for m in METRICS if m in part):
            values = part[metric].astype(float).to_numpy()
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_ci95_over_seeds"] = ci95(values)
        rows.append(row)
    return pd.DataFrame(rows)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="path stem of the CSV and .md")
    args = parser.parse_args(argv)
    try:
        df = collect(args.multirun_dir)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    out = args.out or args.multirun_dir / "collected"
    df.to_csv(out.with_suffix(".csv"), index=False)
    table = df.to_markdown(index=False, floatfmt=".4g")
    seeds = across_seeds(df)
    if seeds is not None:
        seeds.to_csv(out.parent / f"{out.name}_across_seeds.csv", index=False)
        table += "\n\nAcross seeds (mean, 95% CI over seeds):\n\n"
        table += seeds.to_markdown(index=False, floatfmt=".4g")
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
