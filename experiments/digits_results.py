"""Steering the 8x8 digits prior: SVDD against its baselines, through the engine.

Every run goes through ``svdd_ray.engine.run`` from ``configs/digits_compressibility.yaml`` or
``configs/digits_classifier.yaml`` plus dotted overrides, on the backend the configs name (Ray, 1 denoiser
actor + 1 reward actor on 1.5 CPUs) unless told otherwise. For each reward: ``pretrained``, ``best_of_n``
(``pick=top``, the paper's variant), ``dps`` (digit reward only; compressibility has no gradient), ``smc``,
SVDD-PM and SVDD-MC, all with the same M, number of samples, batch size and seed. SMC's alpha and DPS's
guidance scale are chosen first on a separate tuning seed (best median reward, :func:`tuning_plan`,
:func:`tuned`); then :func:`main_plan` and SVDD-PM at M = 1 .. 32 (:func:`curve_plan`). A run directory
that already holds a complete run is not run again (its recorded time is kept, in ``timings.json``).

This module is the experiment plan: which runs, with what settings. The write-up (tables from
``svdd_ray.report.write_report``, naturalness from ``svdd_ray.images.metrics``, figures from
``svdd_ray.images.figures``, the prose) is :func:`experiments.digits_write_up.write_results`;
``jobs/digits_results.py`` is the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from experiments.harness import Plan
from svdd_ray.report import load_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"compressibility": "configs/digits_compressibility.yaml", "digit3": "configs/digits_classifier.yaml"}
TITLES = {"compressibility": "Compressibility (-JPEG bytes)", "digit3": "Digit 3 (log-prob of class 3)"}
VALUE_NETS = {"compressibility": "value_compressibility.pt", "digit3": "value_digit3.pt"}  # in --value-dir
VALUE_NETWORK = "svdd_ray.images.value_net:DigitsValueNet"
GUIDE = "svdd_ray.images.rewards:digit_guide"
#: Table order and labels (the paper's Table 1 columns).
METHODS = ["pretrained", "best_of_n", "dps", "smc", "svdd_mc", "svdd_pm"]
LABELS = {
    "pretrained": "Pre-trained",
    "best_of_n": "Best-of-N",
    "dps": "DPS",
    "smc": "SMC",
    "svdd_mc": "SVDD-MC",
    "svdd_pm": "SVDD-PM",
}
#: Stable Diffusion v1.5, compressibility, median (Li et al. 2024, Table 1).
PAPER_SD_MEDIANS = {"pretrained": -101.4, "best_of_n": -71.2, "dps": -58.5, "smc": -57.1, "svdd_pm": -49.7}
SMC_ALPHAS = {"compressibility": [0.1, 0.25, 0.5, 1.0, 2.0, 4.0], "digit3": [0.03, 0.1, 0.3, 1.0, 3.0]}
DPS_SCALES = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
TUNING_SEED = 1000
K = TypeVar("K")


def method_overrides(
    reward: str, method: str, m: int, smc_alpha: float, dps_scale: float, value_dir: str = "checkpoints/digits"
) -> list[str]:
    """The config overrides of one method (a key of :data:`METHODS`) on ``reward``."""
    table = {
        "pretrained": ["run.method=pretrained", "run.num_candidates=1"],
        "best_of_n": ["run.method=best_of_n", f"run.num_candidates={m}", "run.options={pick: top}"],
        "smc": ["run.method=smc", f"run.num_candidates={m}", f"run.alpha={smc_alpha}"],
        "svdd_pm": ["run.method=svdd", f"run.num_candidates={m}", "run.alpha=0.0"],
        "svdd_mc": [
            "run.method=svdd",
            f"run.num_candidates={m}",
            "run.alpha=0.0",
            "value.kind=mc",
            f"value.network.target={VALUE_NETWORK}",
            f"value.checkpoint={Path(value_dir) / VALUE_NETS[reward]}",
        ],
        "dps": [
            "run.method=dps",
            "run.num_candidates=1",
            f"value.guide.target={GUIDE}",
            "value.guide.options={target: 3}",
            f"run.options={{guidance_scale: {dps_scale}}}",
        ],
    }
    if method not in table:
        raise ValueError(method)
    return table[method]


@dataclass
class Sizes:
    """What every run shares: samples, batch size, seed, M, the backend (None: the configs') and the run root."""

    num_samples: int = 128
    batch_size: int = 32
    seed: int = 0
    m: int = 8
    backend: str | None = None
    root: Path = Path("runs/digits_results")
    value_dir: str = "checkpoints/digits"


def _plan(reward: str, table: dict[str, list[str]], sizes: Sizes, seed: int, samples: int) -> Plan:
    """Runs named by their labels under ``sizes.root``, recording their times in its ``timings.json``."""
    return Plan(REPO / CONFIGS[reward], table, [seed], samples, sizes.root, [f"run.batch_size={sizes.batch_size}"],
                layout="{slug}", backend=sizes.backend, timings=sizes.root / "timings.json")  # fmt: skip


def tuning_plan(reward: str, sizes: Sizes) -> Plan:
    """SMC's alpha grid (and DPS's scale grid on the digit reward): one batch each, on the tuning seed."""
    table = {f"tune-{reward}-smc-a{a}": method_overrides(reward, "smc", sizes.m, a, 0.0) for a in SMC_ALPHAS[reward]}
    if reward == "digit3":
        table |= {f"tune-digit3-dps-s{s}": method_overrides("digit3", "dps", 1, 0.0, s) for s in DPS_SCALES}
    return _plan(reward, table, sizes, TUNING_SEED, sizes.batch_size)


def tuned(reward: str, the_plan: Plan) -> dict[str, dict[float, float]]:
    """The reward's tuning grids from their runs: method (smc, dps) -> value -> median reward."""

    def median(name: str) -> float:
        return float(load_run(the_plan.run_dir(name, TUNING_SEED)).samples["reward"].median())

    grids = {"smc": {a: median(f"tune-{reward}-smc-a{a}") for a in SMC_ALPHAS[reward]}}
    if reward == "digit3":
        grids["dps"] = {s: median(f"tune-digit3-dps-s{s}") for s in DPS_SCALES}
    return grids


def main_names(reward: str, m: int, smc_alpha: float, dps_scale: float) -> dict[str, str]:
    """Method -> its run's name in the comparison at equal M (DPS on the digit reward only)."""
    names = {}
    for method in METHODS:
        if method == "dps" and reward != "digit3":
            continue
        size = m if method not in ("pretrained", "dps") else 1
        suffix = {"smc": f"-a{smc_alpha}", "dps": f"-s{dps_scale}"}.get(method, "")
        names[method] = f"{reward}-{method}-M{size}{suffix}"
    return names


def main_plan(reward: str, sizes: Sizes, smc_alpha: float, dps_scale: float) -> Plan:
    """The comparison at equal M, same seed and sizes, with the tuned SMC alpha and DPS scale."""
    names = main_names(reward, sizes.m, smc_alpha, dps_scale)
    table = {
        name: method_overrides(reward, method, sizes.m, smc_alpha, dps_scale, sizes.value_dir)
        for method, name in names.items()
    }
    return _plan(reward, table, sizes, sizes.seed, sizes.num_samples)


def curve_names(reward: str, ms: Sequence[int]) -> dict[int, str]:
    """M -> the name of SVDD-PM's run with M candidates (the M = ``sizes.m`` point is the main run)."""
    return {m: f"{reward}-svdd_pm-M{m}" for m in ms}


def curve_plan(reward: str, sizes: Sizes, ms: Sequence[int]) -> Plan:
    """SVDD-PM against M."""
    table = {name: method_overrides(reward, "svdd_pm", m, 0, 0) for m, name in curve_names(reward, ms).items()}
    return _plan(reward, table, sizes, sizes.seed, sizes.num_samples)


def run_dirs(the_plan: Plan, names: Mapping[K, str]) -> dict[K, Path]:
    """``names`` (key -> run name) as run directories of ``the_plan``."""
    return {key: the_plan.run_dir(name, the_plan.seeds[0]) for key, name in names.items()}
