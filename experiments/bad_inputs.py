"""Bad inputs a new user gives ``svdd-ray run``, and what each must get: one line, an exit code, nothing written.

One table (:data:`CASES`) serves the test suite (``tests/test_bad_inputs.py``, in process) and the sweep
(``python -m experiments.bad_inputs``, each case a fresh ``svdd-ray`` process, timed), which prints
a Markdown table of input, exit code, message and seconds.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: A small run of the demo model in this process: every case below changes one thing in it.
BASE_CONFIG = """\
run: {method: svdd, num_samples: 8, batch_size: 4, num_candidates: 2}
resources: {backend: local}
reward:
  components: [{target: ones}]
"""

USER_REWARDS = """\
def broken(objects):
    raise RuntimeError("broken")


def words(objects):
    return ["high" for _ in objects]


def nothing(objects):
    return [float("nan") for _ in objects]
"""


def broken(objects: list) -> list[float]:
    """A reward that raises on every call (importable where the cases' own files are not: Ray's workers)."""
    raise RuntimeError("broken")


#: Where each case writes (if it wrongly writes at all).
OUT = "out"


@dataclass(frozen=True)
class Case:
    """``svdd-ray run <args>`` in a prepared folder must exit ``code`` with one line containing ``says``."""

    name: str
    args: str
    code: int
    says: str
    writes: bool = False  # a complete run that fails at the end (all invalid) keeps its files
    own_process: bool = False  # needs a process without Ray started (tested in tests/test_cluster.py)


CASES = [
    Case(
        "reward raises on every call",
        "base.yaml reward.components.0.target=user_rewards:broken",
        2,
        "reward.components[0] (user_rewards:broken): every probe failed: RuntimeError: broken",
    ),
    Case(
        "reward returns strings",
        "base.yaml reward.components.0.target=user_rewards:words",
        2,
        "every probe failed: returned 'high' (str), not a number",
    ),
    Case(
        "reward returns NaN for all",
        "base.yaml reward.components.0.target=user_rewards:nothing",
        2,
        "every probe failed: every one scored NaN",
    ),
    Case(
        "all final samples invalid (probe off)",
        "base.yaml reward.components.0.target=user_rewards:broken reward.probe=0",
        1,
        "every one of the 8 final samples is invalid; reward.components[0] (user_rewards:broken): ",
        writes=True,
    ),
    Case("NaN weight", "base.yaml reward.components.0.weight=.nan", 2, "reward.components[0].weight: must be a finite"),
    Case("infinite weight", "base.yaml reward.components.0.weight=.inf", 2, "weight: must be a finite number"),
    Case("reversed clip", "base.yaml 'reward.components.0.clip=[1, 0]'", 2, "clip: low 1 is above high 0"),
    Case("reversed require", "base.yaml 'reward.components.0.require=[2, 1]'", 2, "require: low 2 is above high 1"),
    Case("negative seed", "base.yaml run.seed=-1", 2, "config.run.seed: must be >= 0, got -1"),
    Case(
        "too many samples for the disk",
        "base.yaml run.num_samples=1000000000000000",
        2,
        "run.num_samples: 1000000000000000 samples need at least 8 PB",
    ),
    Case(
        "too many candidates for memory",
        "base.yaml run.num_candidates=100000000000",
        2,
        "run.num_candidates: 4 chains x 100000000000 candidates",
    ),
    Case("negative probe size", "base.yaml reward.probe=-1", 2, "reward.probe: must be >= 0"),
    Case(
        "molecule reward on the DNA model",
        "configs/dna_hepg2.yaml reward.components.0.target=qed",
        2,
        "reward.components[0].target: 'qed' scores molecules, but model 'dna' makes dna",
    ),
    Case(
        "RNA reward on the DNA model",
        "configs/dna_hepg2.yaml reward.components.0.target=rna_structure 'reward.components.0.options={}'",
        2,
        "'rna_structure' scores rna, but model 'dna' makes dna",
    ),
    Case(
        "RNA target of another length",
        "configs/rna_structure.yaml model.options.length=30 resources.backend=local",
        2,
        "every probe failed: ValueError: sequences[0]: length 30, the target structure has 50",
    ),
    Case("duplicate key in the config", "duplicate.yaml", 2, "duplicate.yaml: not valid YAML (duplicate key 'run'"),
    Case("UTF-16 config", "utf16.yaml", 2, "utf16.yaml: not a UTF-8 text file"),
    Case("Parquet file as config", "table.parquet", 2, "table.parquet: not a UTF-8 text file"),
    Case("binary config", "binary.yaml", 2, "binary.yaml: a binary file, not a YAML config"),
    Case("a folder as config", "configs", 2, "configs: a directory, not a config file"),
    Case("missing config", "missing.yaml", 2, "missing.yaml: config file not found"),
    Case(
        "bad YAML in an override",
        "base.yaml 'run.num_samples=[1,'",
        2,
        "override 'run.num_samples=[1,': the value is not valid YAML",
    ),
    Case("duplicate key in an override", "base.yaml 'run.options={a: 1, a: 2}'", 2, "duplicate key 'a'"),
    Case(
        "user module with a SyntaxError",
        "base.yaml reward.components.0.target=bad_syntax:score",
        2,
        "importing bad_syntax for reward 'bad_syntax:score' failed: SyntaxError",
    ),
    Case(
        "user module that is missing", "base.yaml reward.components.0.target=nowhere:score", 2, "cannot import nowhere"
    ),
    Case("output dir is a file", "base.yaml --out a_file", 2, "run.output_dir: a_file is a file, not a directory"),
    Case(
        "output dir below a file",
        "base.yaml --out a_file/run",
        2,
        "run.output_dir: a_file/run lies below a_file, which is a file",
    ),
    Case("override after --out", "base.yaml --out out run.seed=-1", 2, "config.run.seed: must be >= 0"),
    Case(
        "unreachable cluster address",
        "base.yaml resources.backend=ray resources.connect_timeout_s=2 --address 127.0.0.1:1",
        2,
        "resources.address: no Ray cluster answered at 127.0.0.1:1",
        own_process=True,
    ),
    Case("unknown flag", "base.yaml --colour", 2, "unrecognized arguments: --colour"),
]


def prepare(folder: Path, repo: Path) -> None:
    """Write every file the cases name into ``folder`` (``configs`` links the checkout's)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(BASE_CONFIG)
    (folder / "user_rewards.py").write_text(USER_REWARDS)
    (folder / "bad_syntax.py").write_text("def score(objects:\n    return [1.0]\n")
    (folder / "duplicate.yaml").write_text("run: {seed: 1}\nrun: {seed: 2}\n")
    (folder / "utf16.yaml").write_text(BASE_CONFIG, encoding="utf-16")
    (folder / "binary.yaml").write_bytes(b"run:\x00\x01\x02")
    (folder / "table.parquet").write_bytes(b"PAR1\x15\x04\x15\xac\x80\x80" + bytes(range(256)))
    (folder / "a_file").write_text("not a folder\n")
    if not (folder / "configs").exists():
        (folder / "configs").symlink_to(repo / "configs")
    if not (folder / "checkpoints").exists():
        (folder / "checkpoints").symlink_to(repo / "checkpoints")


def sweep(folder: Path, repo: Path) -> list[tuple[Case, int, str, float, bool]]:
    """Run every case as its own ``svdd-ray`` process in ``folder``: (case, exit code, last line, seconds, wrote)."""
    prepare(folder, repo)
    rows = []
    for case in CASES:
        out = folder / OUT
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "svdd_ray.cli", "run", *shlex.split(case.args), "--quiet"]
            + ([] if "--out" in case.args else ["--out", OUT]),
            cwd=folder,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - began
        lines = [line for line in done.stderr.splitlines() if line.startswith("svdd-ray")]
        rows.append((case, done.returncode, lines[-1] if lines else done.stderr.strip()[-200:], seconds, out.exists()))
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/svdd_ray_bad_inputs", help="where the cases run")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    print("| input | exit | expected | message | s | wrote |\n|---|---|---|---|---|---|")
    for case, code, line, seconds, wrote in sweep(Path(args.folder), repo):
        print(f"| {case.name} | {code} | {case.code} | `{line}` | {seconds:.1f} | {'yes' if wrote else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
