"""Every bad input of ``experiments.bad_inputs``: one line, its exit code, nothing written (in process).

Plus what only a run shows: reward failures reported once during a run, Ctrl-C, resume totals,
a finished run and a damaged batch file, and the reward probe on Ray actors.
"""

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from experiments.bad_inputs import CASES, OUT, prepare
from svdd_ray import cli
from svdd_ray.config import load_config

REPO = Path(__file__).resolve().parents[1]

FLAKY = """\
calls = [0]


def every_third_fails(objects):
    out = []
    for obj in objects:
        calls[0] += 1
        if calls[0] % 3 == 0:
            raise ValueError("every third object fails")
        out.append(float(str(obj).count("1")))
    return out


STOP_AT = [None]  # the call on which ``stopping`` raises KeyboardInterrupt (a Ctrl-C), if any


def stopping(objects):
    calls[0] += 1
    if calls[0] == STOP_AT[0]:
        raise KeyboardInterrupt
    return [float(str(obj).count("1")) for obj in objects]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad_inputs")
    prepare(path, REPO)
    (path / "flaky_rewards.py").write_text(FLAKY)
    return path


def run_cli(folder: Path, args: str, monkeypatch, capsys) -> tuple[int, list[str], str]:
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    argv = ["run", *shlex.split(args), "--quiet"] + ([] if "--out" in args else ["--out", OUT])
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # a usage error, from argparse
        code = exit.code
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if line.strip()], captured.out


IN_PROCESS = [case for case in CASES if not case.own_process]


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.name for c in IN_PROCESS])
def test_bad_input_is_one_line_with_its_exit_code_and_writes_nothing(case, folder, monkeypatch, capsys):
    code, err, _ = run_cli(folder, case.args, monkeypatch, capsys)
    errors = [line for line in err if line.startswith("svdd-ray")]
    assert code == case.code, err
    assert len(errors) == 1 and case.says in errors[0], err
    assert (folder / OUT).exists() == case.writes
    if case.writes:  # a complete run: its manifest says so, every sample is there and flagged invalid
        frame = pd.read_parquet(folder / OUT)
        assert json.loads((folder / OUT / "_manifest.json").read_text())["status"] == "complete"
        assert len(frame) == 8 and frame.invalid.all()
        (folder / "done").mkdir(exist_ok=True)
        (folder / OUT).rename(folder / "done" / case.name.replace(" ", "_"))


def test_every_case_changes_a_config_that_runs(folder, monkeypatch, capsys):
    """The base config the cases change is itself fine: the failures come from the change."""
    code, err, out = run_cli(folder, "base.yaml --out fine", monkeypatch, capsys)
    assert code == 0 and "wrote 8 samples" in out and not [line for line in err if "error" in line]


def test_a_reward_failing_on_some_objects_is_shown_once_with_a_count(folder, monkeypatch, capsys):
    code, err, out = run_cli(
        folder, "base.yaml reward.components.0.target=flaky_rewards:every_third_fails --out flaky", monkeypatch, capsys
    )
    notices = [line for line in err if "failed: ValueError: every third object fails" in line]
    assert code == 0 and len(notices) == 1 and "first failure" in notices[0]
    totals = json.loads((folder / "flaky" / "_manifest.json").read_text())["totals"]
    failures = totals["reward_failures"]["flaky_rewards:every_third_fails"]
    assert failures > 0 and any(f"flaky_rewards:every_third_fails {failures}" in line for line in err)


def test_ctrl_c_is_one_line_exit_130_and_the_same_command_resumes_to_the_same_samples(folder, monkeypatch, capsys):
    """Interrupted (a reward raising KeyboardInterrupt stands in for Ctrl-C), then resumed: the samples and
    the manifest's totals equal an uninterrupted run's; the calls the interrupt wasted are counted apart."""
    args = "base.yaml run.num_samples=32 reward.cache=false reward.components.0.target=flaky_rewards:stopping"
    import flaky_rewards

    before = flaky_rewards.calls[0]
    assert run_cli(folder, f"{args} --out clean", monkeypatch, capsys)[0] == 0
    per_run = flaky_rewards.calls[0] - before
    flaky_rewards.STOP_AT[0] = flaky_rewards.calls[0] + int(0.75 * per_run)  # some batches done, some not
    code, err, _ = run_cli(folder, f"{args} --out resumed", monkeypatch, capsys)
    assert code == 130 and err == [err[-1]] and "interrupted after" in err[-1] and "the same command resumes" in err[-1]
    partial = json.loads((folder / "resumed" / "_manifest.json").read_text())
    assert partial["status"] == "interrupted" and partial["parts"][0]["interrupted"]
    assert 0 < partial["parts"][0]["batches"] < 8
    assert run_cli(folder, f"{args} --out resumed", monkeypatch, capsys)[0] == 0
    clean, resumed = (json.loads((folder / d / "_manifest.json").read_text()) for d in ("clean", "resumed"))
    rows = {d: pd.read_parquet(folder / d).sort_values("index") for d in ("clean", "resumed")}
    assert rows["clean"].object.tolist() == rows["resumed"].object.tolist()
    assert resumed["totals"]["samples"] == clean["totals"]["samples"] == 32
    per_batch = rows["resumed"].groupby("batch").reward_calls.first().sum()
    assert resumed["totals"]["reward_calls"] == per_batch == sum(p.get("reward_calls", 0) for p in resumed["parts"])
    assert resumed["totals"]["abandoned_reward_calls"] > 0


def test_totals_after_a_killed_run_add_the_parts_up(folder, monkeypatch, capsys):
    """A run killed outright (no Ctrl-C handling): its part is rebuilt from the batch files it wrote."""
    args = "base.yaml run.num_samples=32 reward.cache=false --out killed"
    assert run_cli(folder, args, monkeypatch, capsys)[0] == 0
    run_dir = folder / "killed"
    whole = json.loads((run_dir / "_manifest.json").read_text())
    for batch in (5, 6, 7):
        (run_dir / f"batch-{batch:06d}.parquet").unlink()
    killed = {**whole, "status": "running", "parts": []}
    (run_dir / "_manifest.json").write_text(json.dumps(killed))
    assert run_cli(folder, args, monkeypatch, capsys)[0] == 0
    totals = json.loads((run_dir / "_manifest.json").read_text())["totals"]
    rows = pd.read_parquet(run_dir)
    assert totals["samples"] == len(rows) == 32
    assert totals["reward_calls"] == rows.groupby("batch").reward_calls.first().sum() == whole["totals"]["reward_calls"]


def test_a_finished_run_says_so_without_starting_anything_and_a_damaged_batch_is_redone(folder, monkeypatch, capsys):
    assert run_cli(folder, "base.yaml --out finished", monkeypatch, capsys)[0] == 0
    before = pd.read_parquet(folder / "finished").sort_values("index")
    with monkeypatch.context() as patched:
        patched.setattr("svdd_ray.engine.start_executor", lambda *a, **k: pytest.fail("started an executor"))
        code, _, out = run_cli(folder, "base.yaml --out finished", monkeypatch, capsys)
    assert code == 0 and "already holds this run, complete: 8 samples; nothing to do" in out
    (folder / "finished" / "batch-000001.parquet").write_bytes(b"")
    code, err, _ = run_cli(folder, "base.yaml --out finished", monkeypatch, capsys)
    assert code == 0 and any("redoing damaged batch files: batch-000001.parquet" in line for line in err)
    after = pd.read_parquet(folder / "finished").sort_values("index")
    assert after.object.tolist() == before.object.tolist()
    assert json.loads((folder / "finished" / "_manifest.json").read_text())["totals"]["samples"] == 8


def test_output_dir_not_writable_or_read_only_is_one_line(folder, monkeypatch, capsys):
    import svdd_ray.engine.output as output

    monkeypatch.setattr(output.os, "access", lambda path, mode: False)
    code, err, _ = run_cli(folder, "base.yaml --out locked/run", monkeypatch, capsys)
    assert code == 2 and err == [err[0]] and "is not writable by this user" in err[0]
    monkeypatch.setattr(output, "_read_only", lambda path: True)
    code, err, _ = run_cli(folder, "base.yaml --out locked/run", monkeypatch, capsys)
    assert code == 2 and "is on a read-only filesystem" in err[0] and not (folder / "locked").exists()


def test_the_probe_runs_on_the_reward_actors(ray_session, folder, monkeypatch, capsys):
    code, err, _ = run_cli(
        folder,
        "base.yaml resources.backend=ray reward.components.0.target=experiments.bad_inputs:broken",
        monkeypatch,
        capsys,
    )
    assert code == 2 and "every probe failed: RuntimeError: broken" in err[-1] and not (folder / OUT).exists()
    code, err, out = run_cli(folder, "base.yaml resources.backend=ray --out on_ray", monkeypatch, capsys)
    assert code == 0 and "+ 1 to probe the rewards" in out


def test_a_config_can_switch_the_probe_off():
    config = load_config(REPO / "configs" / "quickstart.yaml", ["reward.probe=0"])
    assert config.reward.probe == 0
