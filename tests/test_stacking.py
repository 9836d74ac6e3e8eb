"""Stacked model passes: the model calls of batches advanced together run as one pass, and change nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from engine_helpers import small_config, with_resources
from toys import MixtureEpsNet

from svdd_ray.demo import bitstrings, ones
from svdd_ray.engine.runner import BatchDone, BatchRunner, NeedRewards
from svdd_ray.engine.stacking import StackedModel, stacked_entry
from svdd_ray.models import GaussianDiffusion
from svdd_ray.models.autoregressive import CausalLSTM, LeftToRightDiffusion
from svdd_ray.rna.prior import RnaPrior


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def left_to_right() -> LeftToRightDiffusion:
    torch.manual_seed(0)
    return LeftToRightDiffusion(CausalLSTM(5, d_embed=8, hidden=16, layers=1), 5, seq_len=8, block_size=2).eval()


def gaussian() -> GaussianDiffusion:
    net = MixtureEpsNet([0.5, 0.5], [-1.0, 1.0], [0.5, 0.5])
    return GaussianDiffusion(net, (1,), num_train_steps=1000, num_steps=6, scheduler="ddim", eta=0.5)


MODELS = {"masked": lambda: bitstrings(length=12, num_steps=6), "gaussian": gaussian, "left-to-right": left_to_right}


def states_at(model, steps: list[int], rows: list[int]) -> list[torch.Tensor]:
    """States of ``rows[i]`` chains after ``num_steps - steps[i]`` pretrained steps."""
    out = []
    for i, (t, n) in enumerate(zip(steps, rows)):
        x = model.sample_prior(n, gen(i))
        for s in range(model.num_steps, t, -1):
            x = model.propose(x, s, gen(100 + s))
        out.append(x)
    return out


@pytest.mark.parametrize("kind", list(MODELS))
def test_stacked_entry_points_give_what_the_calls_give_one_by_one(kind):
    model = MODELS[kind]()
    steps, rows = [6, 3, 3, 1, 0], [16, 24, 16, 32, 16]
    xs = states_at(model, steps, rows)
    with torch.no_grad():
        alone = [model.propose(x, t, gen(i)) for i, (x, t) in enumerate(zip(xs[:4], steps[:4]))]
        stacked = model.propose_stacked(xs[:4], steps[:4], [gen(i) for i in range(4)])
        assert all(torch.equal(a, b) for a, b in zip(alone, stacked, strict=True))
        alone = [model.predict_x0(x, t) for x, t in zip(xs, steps)]
        stacked = model.predict_x0_stacked(xs, steps)
        assert all(torch.equal(a, b) for a, b in zip(alone, stacked, strict=True))


def test_a_subclass_overriding_a_call_does_not_inherit_its_parents_stacked_version():
    rna = RnaPrior(length=10, num_steps=4)  # overrides predict_x0, not propose
    assert stacked_entry(rna, "predict_x0") is None
    assert stacked_entry(rna, "propose") is not None
    assert stacked_entry(bitstrings(), "predict_x0") is not None


def drive(runner: BatchRunner, batches: list[int], together: bool) -> dict[int, BatchDone]:
    """Run ``batches`` to the end on ``runner`` with the ``ones`` reward, all together or one at a time."""
    work = [("start", b, (6,)) for b in batches]
    done: dict[int, BatchDone] = {}
    while work:
        outcomes = runner.advance(work) if together else [runner.advance([w])[0] for w in work]
        work = []
        for outcome in outcomes:
            assert not isinstance(outcome, BaseException), outcome
            if isinstance(outcome, NeedRewards):
                work.append(("resume", outcome.batch, (np.asarray(ones(outcome.objects)),)))
            else:
                done[outcome.batch] = outcome
    return done


@pytest.mark.parametrize("method", ["svdd", "smc", "tree_search"])
def test_batches_advanced_together_share_passes_and_draw_what_they_draw_alone(tmp_path, method):
    options = {"rollouts": 3} if method == "tree_search" else {}
    config = small_config(tmp_path / "a", method=method, options=options, batch_size=6, num_candidates=4)
    together = BatchRunner(config)
    alone = BatchRunner(
        with_resources(small_config(tmp_path / "b", method=method, options=options), max_rows_per_pass=0)
    )
    batches = [0, 1, 2, 3]
    got, want = drive(together, batches, together=True), drive(alone, batches, together=False)
    for b in batches:
        assert got[b].objects == want[b].objects
        assert got[b].rewards.tolist() == want[b].rewards.tolist()
        assert got[b].value_calls == want[b].value_calls and got[b].denoise_s > 0
    stats = together.model.pass_stats
    assert max(stats.counts) == len(batches)  # some passes held a call of every batch
    assert stats.passes < stats.calls
    assert alone.model.pass_stats.counts.keys() == {1}


def test_max_rows_per_pass_caps_a_pass_without_splitting_a_call(tmp_path):
    config = with_resources(small_config(tmp_path / "a"), max_rows_per_pass=48)  # two calls of 24 rows a pass
    runner = BatchRunner(config)
    drive(runner, [0, 1, 2, 3], together=True)
    assert max(runner.model.pass_stats.counts) == 2
    small = BatchRunner(with_resources(small_config(tmp_path / "b"), max_rows_per_pass=5))  # below one call
    drive(small, [0, 1], together=True)
    assert small.model.pass_stats.counts.keys() == {1}


def quiet(fn):
    """``fn`` under ``torch.no_grad`` (grad mode is per thread; a denoiser's samplers run without gradients)."""

    def run():
        with torch.no_grad():
            return fn()

    return run


def test_a_failing_call_or_task_fails_alone_and_the_others_finish():
    raw = bitstrings(length=12, num_steps=6)
    model = StackedModel(raw, max_rows=4096)
    x = raw.sample_prior(16, gen(0))

    def good(m, seed: int):
        return quiet(lambda: m.predict_x0(m.propose(x, 6, gen(seed)), 5))

    def bad_shape():
        return model.propose(x[:, :5], 6, gen(9))  # the network refuses these rows

    def raises():
        raise ValueError("broken batch")

    results = model.run_together([good(model, 1), quiet(bad_shape), good(model, 2), raises])
    assert torch.equal(results[0][0], good(raw, 1)()) and torch.equal(results[2][0], good(raw, 2)())
    assert isinstance(results[1][0], RuntimeError) and isinstance(results[3][0], ValueError)
    assert [rows for _, rows in results] == [32, 16, 32, 0]
    assert max(model.pass_stats.counts) == 2  # the two good batches' predict_x0 calls ran as one pass


def test_calls_outside_run_together_and_with_gradients_are_the_models_own():
    model = StackedModel(bitstrings(length=12, num_steps=6), max_rows=4096)
    x = model.sample_prior(16, gen(0))
    assert torch.equal(model.propose(x, 6, gen(1)), model._model.propose(x, 6, gen(1)))
    assert model.pass_stats.calls == 0  # not a batch's call: not counted
    seen = []

    def with_grad():
        with torch.enable_grad():
            seen.append(threading.current_thread().name)
            return model.propose(x, 6, gen(2))

    results = model.run_together([with_grad, lambda: model.propose(x, 6, gen(3))])
    assert torch.equal(results[0][0], model._model.propose(x, 6, gen(2))) and seen


class DrawsThenFails:
    """A model whose calls draw from their generator and fail on rows holding -1; stacked, every call draws first."""

    num_steps = 2

    def propose(self, x, t, generator):
        noise = torch.rand(x.shape, generator=generator)
        if (x < 0).any():
            raise ValueError("negative rows")
        return x + noise

    def propose_stacked(self, xs, ts, generators):
        noises = [torch.rand(x.shape, generator=g) for x, g in zip(xs, generators)]
        if any((x < 0).any() for x in xs):
            raise ValueError("negative rows")
        return [x + noise for x, noise in zip(xs, noises)]

    def predict_x0(self, x, t):
        return x


def test_a_stacked_pass_that_fails_leaves_the_other_calls_generators_as_if_it_never_drew():
    model = StackedModel(DrawsThenFails(), max_rows=4096)
    good, bad = torch.zeros(4, 3), -torch.ones(4, 3)
    results = model.run_together(
        [quiet(lambda: model.propose(good, 2, gen(1))), quiet(lambda: model.propose(bad, 2, gen(2)))]
    )
    assert torch.equal(results[0][0], DrawsThenFails().propose(good, 2, gen(1)))
    assert isinstance(results[1][0], ValueError)
    assert model.pass_stats.passes == 2  # the failed stacked pass is not counted; the two calls ran alone


def test_the_tasks_take_turns_and_never_run_at_the_same_time():
    import time

    model = StackedModel(bitstrings(length=12, num_steps=6), max_rows=4096)
    x = model.sample_prior(16, gen(0))
    running, most = [0], [0]

    def task(seed: int):
        def run():
            for t in (6, 5, 4):
                running[0] += 1
                most[0] = max(most[0], running[0])
                time.sleep(0.01)  # a thread that could run now would
                running[0] -= 1
                model.propose(x, t, gen(seed))
            return seed

        return quiet(run)

    results = model.run_together([task(s) for s in range(4)])
    assert [r for r, _ in results] == [0, 1, 2, 3] and most[0] == 1
    assert max(model.pass_stats.counts) == 4


def test_a_value_networks_calls_stack_with_the_models_and_change_nothing(tmp_path):
    from svdd_ray.config import PluginSpec
    from svdd_ray.demo import BitValueNet
    from svdd_ray.values import ValueNetwork, save_value_network

    torch.manual_seed(0)
    save_value_network(ValueNetwork(BitValueNet(length=8), 6), tmp_path / "value.pt")

    def mc(out, **resources):
        config = with_resources(small_config(out), **resources)
        config.value.kind = "mc"
        config.value.network = PluginSpec("svdd_ray.demo:BitValueNet", {"length": 8})
        config.value.checkpoint = str(tmp_path / "value.pt")
        return BatchRunner(config)

    together, alone = mc(tmp_path / "a"), mc(tmp_path / "b", max_rows_per_pass=0)
    got, want = drive(together, [0, 1, 2, 3], together=True), drive(alone, [0, 1, 2, 3], together=False)
    for b in range(4):
        assert got[b].objects == want[b].objects and got[b].rewards.tolist() == want[b].rewards.tolist()
    # every pass held a call of each of the 4 batches: 6 steps' proposals, 5 value-network calls (t >= 1), the
    # final predict_x0 (t = 0)
    assert together.model.pass_stats.counts == {4: 6 + 5 + 1}
