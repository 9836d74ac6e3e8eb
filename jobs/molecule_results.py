"""Molecule results in the form of the paper's Table 1: methods at equal M on the MOSES prior.

    python jobs/molecule_results.py [--rewards qed sa docking] [--methods ...] [--samples N] [--m M]

Every run goes through ``svdd_ray.engine.run`` from the reward's config (``CONFIGS``) plus
dotted overrides; a run directory that already holds a complete run is reused, so rerunning
the script only adds what is missing. Sizes default per reward (``SIZES``: docking is small,
~5 s per molecule per core). ``svdd_mc`` needs the reward's value network,
``checkpoints/moses/value_<reward>.pt`` (``jobs/train_value.py``). The table is made by
``svdd_ray.report`` (reward median / p90, validity, uniqueness, novelty against the MOSES
train set, internal diversity) and written to ``docs/molecule_results.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from svdd_ray import engine
from svdd_ray.chem.domain import MoleculeDomain
from svdd_ray.config import load_config
from svdd_ray.report import markdown_table, write_report

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


def reverse_steps(config_path: Path) -> int:
    """The reverse steps of the config's model (a left-to-right prior has ceil(length / block_size))."""
    from svdd_ray.engine.runner import build_model

    return build_model(load_config(config_path)).num_steps


def value_checkpoint(reward: str) -> Path:
    return REPO / "checkpoints" / "moses" / f"value_{reward}.pt"


def has_value_network(config_path: Path, reward: str) -> bool:
    """SVDD-MC's value networks were regressed on states of the masked SELFIES prior (``moses``) only."""
    return load_config(config_path).model.target == "moses" and value_checkpoint(reward).is_file()


def method_overrides(method: str, reward: str, m: int, smc_alpha: float) -> list[str]:
    if method == "svdd_mc" and not value_checkpoint(reward).is_file():
        raise SystemExit(
            f"svdd_mc: {value_checkpoint(reward)} is missing; train it with jobs/train_value.py "
            f"--config configs/{CONFIGS[reward]} --network {VALUE_NETS.get(reward)} "
            f"--out {value_checkpoint(reward)}"
        )
    return {
        "pretrained": ["run.method=pretrained", "run.num_candidates=1"],
        "best_of_n": ["run.method=best_of_n", f"run.num_candidates={m}", "run.options={keep: top}"],
        "smc": ["run.method=smc", f"run.num_candidates={m}", f"run.alpha={smc_alpha}"],
        "svdd": ["run.method=svdd", f"run.num_candidates={m}", "run.alpha=0.0"],
        "svdd_mc": [
            "run.method=svdd",
            f"run.num_candidates={m}",
            "run.alpha=0.0",
            "value.kind=mc",
            f"value.network.target={VALUE_NETS.get(reward)}",
            f"value.checkpoint={value_checkpoint(reward)}",
        ],
    }[method]


def run_once(config_path: Path, out: Path, overrides: list[str]) -> float:
    """Run (or reuse) one configuration; return its wall time in seconds."""
    manifest = out / "_manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete":
        return json.loads(manifest.read_text())["totals"]["wall_time_s"]
    began = time.perf_counter()
    engine.run(load_config(config_path, [*overrides, f"run.output_dir={out}"]))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewards", nargs="+", default=["qed", "sa", "docking"], choices=sorted(CONFIGS))
    parser.add_argument("--methods", nargs="+", default=["pretrained", "best_of_n", "smc", "svdd", "svdd_mc"])
    parser.add_argument("--samples", type=int, help="molecules per method (default: SIZES per reward)")
    parser.add_argument("--m", type=int, help="candidates per step (default: SIZES per reward)")
    parser.add_argument("--smc-alpha", type=float, help="SMC alpha (default: SMC_ALPHA per reward)")
    parser.add_argument("--out", default="runs/molecules")
    parser.add_argument("--docs", default=str(REPO / "docs" / "molecule_results.md"))
    args = parser.parse_args()

    sections = [
        "# Molecules: SVDD and its peers on the MOSES prior",
        "",
        f"Prior: `{load_config(REPO / 'configs' / CONFIGS[args.rewards[0]]).model.target}` "
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
    for reward in args.rewards:
        samples, m = args.samples or SIZES[reward][0], args.m or SIZES[reward][1]
        smc_alpha = args.smc_alpha if args.smc_alpha is not None else SMC_ALPHA[reward]
        config_path = REPO / "configs" / CONFIGS[reward]
        methods = [mt for mt in args.methods if mt != "svdd_mc" or has_value_network(config_path, reward)]
        dirs, walls = [], {}
        for method in methods:
            out = Path(args.out) / f"{reward}_{method}"
            overrides = [
                *method_overrides(method, reward, m, smc_alpha),
                *EXTRA.get(reward, []),
                f"run.num_samples={SAMPLES.get((reward, method), samples)}",
            ]
            walls[out.name] = run_once(config_path, out, overrides)
            dirs.append(out)
        report_dir = Path(args.out) / f"report_{reward}"
        write_report(dirs, report_dir)  # the molecules domain adds novelty against the MOSES train set
        summary = pd.read_csv(report_dir / "summary.csv")
        summary["wall_time_s"] = [walls[run] for run in summary["run"]]
        summary["method"] = [run.removeprefix(f"{reward}_") for run in summary["run"]]
        cols = [
            "method",
            "M",
            "n",
            "reward_median",
            "reward_p90",
            "reward_p99",
            *MoleculeDomain.NATURALNESS,
            "reward_calls",
            "wall_time_s",
        ]
        steps = reverse_steps(config_path)
        paper = PAPER.get(reward)
        sections += [
            "",
            f"## {reward.upper()} (`configs/{CONFIGS[reward]}`)",
            "",
            f"{samples} molecules per method (except as `n` says), M = {m} where a method uses candidates, "
            f"{steps} reverse steps, "
            f"SMC alpha = {smc_alpha}."
            + ("" if "svdd_mc" in methods else " (No value network for SVDD-MC on this reward and prior.)"),
            "",
            markdown_table(summary[cols]),
            "",
        ]
        if paper:
            sections.append(
                f"Paper (GDSS, ZINC250k) medians: pretrained {paper[0]}, best-of-N {paper[1]}, SVDD {paper[2]}."
            )
        figures = {"rewards": report_dir / "reward_distributions.png"}
        for path in report_dir.glob(f"top_*_{reward}_svdd.png"):
            figures["svdd_top"] = path
        for name, path in figures.items():
            if path.is_file():
                target = Path(args.docs).parent / f"molecule_{reward}_{name}.png"
                shutil.copyfile(path, target)
                sections += ["", f"![{reward} {name.replace('_', ' ')}]({target.name})"]
        sections.append(f"Full report: `{report_dir}/summary.md`.")
    Path(args.docs).parent.mkdir(parents=True, exist_ok=True)
    Path(args.docs).write_text("\n".join(sections) + "\n")
    print("\n".join(sections))


if __name__ == "__main__":
    main()
