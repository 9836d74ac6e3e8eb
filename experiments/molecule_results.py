"""Molecule results in the form of the paper's Table 1: methods at equal M on the MOSES prior.

Every run goes through ``svdd_ray.engine.run`` from the reward's config (``CONFIGS``) plus dotted overrides
(:func:`plan`, the configs' backend); a run directory that already holds a complete run is reused. Sizes
default per reward (``SIZES``: docking is small, ~5 s per molecule per core). ``svdd_mc`` needs the
reward's value network, ``checkpoints/moses/value_<reward>.pt`` (``jobs/train_value.py``). The table is made
by ``svdd_ray.report`` (reward median / p90, validity, uniqueness, novelty against the MOSES train set,
internal diversity); :func:`section` is a reward's part of ``docs/molecule_results.md`` and :func:`header`
its opening. ``jobs/molecule_results.py`` is the command line.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments import harness
from experiments.harness import Plan
from svdd_ray.config import load_config

REPO = Path(__file__).resolve().parents[1]
#: Medians reported by the paper (GDSS on ZINC250k): pretrained, best-of-N, SVDD.
PAPER = {"qed": (0.656, 0.835, 0.848), "sa": (0.652, 0.834, 0.925), "docking": (7.15, 10.00, 11.40)}
CONFIGS = {"qed": "molecule_qed.yaml", "sa": "molecule_sa.yaml", "docking": "molecule_docking_parp1.yaml"}
#: Default (samples, M) per reward; docking is sized for 2 CPU cores.
SIZES = {"qed": (256, 10), "sa": (256, 10), "docking": (16, 4)}
#: Methods whose sample count differs from SIZES: pretrained docking is cheap (one docking per
#: molecule) and 16 molecules say little about the prior's distribution.
SAMPLES = {("docking", "pretrained"): 64}
#: SMC's alpha on each reward's scale (docking scores spread ~10x wider than QED or SA).
SMC_ALPHA = {"qed": 0.1, "sa": 0.1, "docking": 1.0}
#: Per-reward overrides: docking gets both cores (two 1-CPU docking actors, the denoiser on 0 CPUs).
EXTRA = {"docking": ["reward.components.0.actors=2", "resources.denoiser_num_cpus=0"]}
#: SVDD-MC value network per reward, each the one with the lower held-out error
#: (``checkpoints/moses/value_<reward>.json``).
VALUE_NETS = {"qed": "svdd_ray.chem.value_net:FingerprintValueNet", "sa": "svdd_ray.chem.value_net:SelfiesValueNet"}
METHODS = ["pretrained", "best_of_n", "smc", "svdd", "svdd_mc"]


def reverse_steps(config_path: Path) -> int:
    """The reverse steps of the config's model (a left-to-right prior has ceil(length / block_size))."""
    from svdd_ray.engine.runner import build_model

    return build_model(load_config(config_path)).num_steps


def value_checkpoint(reward: str) -> Path:
    return REPO / "checkpoints" / "moses" / f"value_{reward}.pt"


def has_value_network(config_path: Path, reward: str) -> bool:
    """SVDD-MC's value networks were regressed on states of the masked SELFIES prior (``moses``) only."""
    return load_config(config_path).model.target == "moses" and value_checkpoint(reward).is_file()


def methods(reward: str, m: int, smc_alpha: float) -> dict[str, list[str]]:
    """Method -> config overrides; ``svdd_mc`` only where the reward has a value network for the config's prior."""
    table = {
        "pretrained": ["run.method=pretrained", "run.num_candidates=1"],
        "best_of_n": ["run.method=best_of_n", f"run.num_candidates={m}", "run.options={pick: top}"],
        "smc": ["run.method=smc", f"run.num_candidates={m}", f"run.alpha={smc_alpha}"],
        "svdd": ["run.method=svdd", f"run.num_candidates={m}", "run.alpha=0.0"],
    }
    if has_value_network(REPO / "configs" / CONFIGS[reward], reward):
        table["svdd_mc"] = [
            *table["svdd"],
            "value.kind=mc",
            f"value.network.target={VALUE_NETS.get(reward)}",
            f"value.checkpoint={value_checkpoint(reward)}",
        ]
    return table


def plan(reward: str, runs_dir: Path, samples: int | None = None, m: int | None = None,
         smc_alpha: float | None = None, chosen: Sequence[str] = METHODS) -> Plan:  # fmt: skip
    """The reward's runs ``runs_dir/<reward>_<method>`` (seed 0); sizes and alpha default per reward."""
    samples, m = samples or SIZES[reward][0], m or SIZES[reward][1]
    table = methods(reward, m, SMC_ALPHA[reward] if smc_alpha is None else smc_alpha)
    sizes = {method: n for (r, method), n in SAMPLES.items() if r == reward}
    config = REPO / "configs" / CONFIGS[reward]
    chosen = [method for method in chosen if method in table]
    return Plan(config, table, [0], samples, runs_dir, EXTRA.get(reward, []), chosen, sizes, f"{reward}_{{slug}}",
                backend=None, timings=Path(runs_dir) / "timings.json")  # fmt: skip


def header(reward: str) -> list[str]:
    """The page's opening; the prior is the first reward's config's ``model.target``."""
    return [
        "# Molecules: SVDD and its peers on the MOSES prior",
        "",
        f"Prior: `{load_config(REPO / 'configs' / CONFIGS[reward]).model.target}` "
        "(the configs' `model.target`; `moses_smiles`: the left-to-right SMILES prior, `moses`: the masked "
        "SELFIES one).",
        "",
        "Made by `python jobs/molecule_results.py` (seed 0, embedded local Ray on 2 CPU cores; "
        "sizes and SMC alpha per reward below; complete runs "
        "under `runs/molecules` are reused). `svdd` is SVDD-PM; `svdd_mc` is SVDD with the value "
        "network of `checkpoints/moses/value_<reward>.pt`, regressed on pretrained rollouts "
        "(`jobs/train_value.py`).",
        "Columns come from `svdd-ray report`: reward median / 90th / 99th percentile of valid molecules, "
        "validity, uniqueness, novelty against the MOSES train set and internal diversity (1 - mean "
        "pairwise Tanimoto, Morgan fingerprints), and naturalness: `FCD/Test` (fcd_torch's ChemNet against "
        "MOSES test statistics; FCD of a few hundred molecules sits well above its 10,000-sample value, so "
        "compare methods with each other and with `pretrained` at the same n), MOSES `Filters` pass rate, "
        "`sa_median` (SA score, 1 easy - 10 hard) and `aromatic` (share with an aromatic ring; MOSES test "
        "0.98); `reward_calls` counts reward evaluations after the cache "
        "(docking runs also share a persistent cache file, so a later run docks fewer molecules); "
        "`wall_time_s` is the run's wall time, with whatever else shared the machine's cores.",
    ]


def summary(reward: str, the_plan: Plan) -> tuple[pd.DataFrame, Path]:
    """The report of the reward's runs (written to ``runs_dir/report_<reward>``) as the table's rows."""
    from svdd_ray.chem.domain import MoleculeDomain
    from svdd_ray.report import write_report

    dirs = [the_plan.run_dir(method, 0) for method in the_plan.labels]
    report_dir = Path(the_plan.runs_dir) / f"report_{reward}"
    write_report(dirs, report_dir)  # the molecules domain adds novelty against the MOSES train set
    table = pd.read_csv(report_dir / "summary.csv")
    walls = {d.name: wall_time(the_plan, d) for d in dirs}
    table["wall_time_s"] = [walls[run] for run in table["run"]]
    table["method"] = [run.removeprefix(f"{reward}_") for run in table["run"]]
    columns = ["method", "M", "n", "reward_median", "reward_p90", "reward_p99", *MoleculeDomain.NATURALNESS]
    return table[[*columns, "reward_calls", "wall_time_s"]], report_dir


def wall_time(the_plan: Plan, run_dir: Path) -> float:
    """``engine.run``'s wall time as measured when the run was made here, else the run's own from its manifest."""
    made = harness.timings(the_plan).get(run_dir.name, {}).get("wall_s")
    return made if made is not None else harness.totals(run_dir).get("wall_time_s")


def section(reward: str, the_plan: Plan, m: int, smc_alpha: float, docs: Path) -> list[str]:
    """The reward's part of the page: sizes, the table, the paper's medians and its figures (copied beside
    ``docs``)."""
    from svdd_ray.report import markdown_table

    table, report_dir = summary(reward, the_plan)
    lines = [
        "",
        f"## {reward.upper()} (`configs/{CONFIGS[reward]}`)",
        "",
        f"{the_plan.samples} molecules per method (except as `n` says), M = {m} where a method uses candidates, "
        f"{reverse_steps(the_plan.config)} reverse steps, "
        f"SMC alpha = {smc_alpha}."
        + ("" if "svdd_mc" in the_plan.labels else " (No value network for SVDD-MC on this reward and prior.)"),
        "",
        markdown_table(table),
        "",
    ]
    paper = PAPER.get(reward)
    if paper:
        lines.append(f"Paper (GDSS, ZINC250k) medians: pretrained {paper[0]}, best-of-N {paper[1]}, SVDD {paper[2]}.")
    return lines + figures(reward, report_dir, docs) + [f"Full report: `{report_dir}/summary.md`."]


def figures(reward: str, report_dir: Path, docs: Path) -> list[str]:
    """Copy the report's reward distributions and SVDD's top molecules beside ``docs``; their Markdown links."""
    found = {"rewards": report_dir / "reward_distributions.png"}
    for path in report_dir.glob(f"top_*_{reward}_svdd.png"):
        found["svdd_top"] = path
    lines = []
    for name, path in found.items():
        if path.is_file():
            target = Path(docs).parent / f"molecule_{reward}_{name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            lines += ["", f"![{reward} {name.replace('_', ' ')}]({target.name})"]
    return lines
