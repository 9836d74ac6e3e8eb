"""Batches of chains next to a model: the work a denoiser actor (or the local backend) does.

A :class:`BatchRunner` owns one model and the sampler coroutines of the batches assigned to
it. Each call advances one batch until its sampler needs rewards of decoded objects, and
returns those objects; values it can compute locally (a value network) never leave it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from svdd_ray import plugins
from svdd_ray.config import Config
from svdd_ray.devices import memory_bytes, pick_device
from svdd_ray.engine.output import size_text
from svdd_ray.engine.stacking import StackedModel, default_rows_per_pass
from svdd_ray.errors import ConfigError
from svdd_ray.inprocess import as_values, batch_seed, make_generator, make_sampler
from svdd_ray.protocol import DiffusionModel
from svdd_ray.samplers import Sampler, final_states
from svdd_ray.values import MCValue, PMValue, SplitValue, ValueNetwork, check_fill, load_value_network

#: The random stream of the reward health probe: past every batch index a run can have.
PROBE_STREAM = 2**62


@dataclass
class NeedRewards:
    """Batch ``batch`` needs the rewards of ``objects`` (states at step ``t``)."""

    batch: int
    t: int
    objects: list
    num_steps: int = 0  # the model's reverse steps, so the driver can place t in the run


@dataclass
class BatchDone:
    """Batch ``batch`` finished: its final objects, their rewards and the work it took."""

    batch: int
    objects: list
    rewards: np.ndarray
    value_calls: int
    denoise_s: float = 0.0
    trace: list = field(default_factory=list)


def build_model(config: Config) -> DiffusionModel:
    """Call the configured model factory and move the model to its device, in eval mode."""
    spec = config.model
    model = plugins.build("model", spec.target, spec.options, key="model.target")
    if not isinstance(model, DiffusionModel):
        raise ConfigError(
            f"model.target: {spec.target!r} built a {type(model).__name__}, not a DiffusionModel "
            "(num_steps, sample_prior, propose, predict_x0, decode)"
        )
    if isinstance(model, torch.nn.Module):
        model = model.to(pick_device(spec.device, key="model.device")).eval()
    return model


def build_value(config: Config, model: DiffusionModel) -> SplitValue:
    """The value plan: PM (all rewards remote) or MC (value network here, reward at t = 0)."""
    value = config.value
    check_fill(value.fill, model)
    if value.kind == "pm":
        return PMValue(model, reward=None, fill=value.fill)
    net = plugins.build("value network", value.network.target, value.network.options, key="value.network.target")
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"value.network.target: {value.network.target!r} built a {type(net).__name__}, not a module")
    try:
        value_net = load_value_network(ValueNetwork(net, model.num_steps), value.checkpoint)
    except Exception as err:  # noqa: BLE001 - a checkpoint that does not load is a config error
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"value.checkpoint: {value.checkpoint} does not load into the network ({first})") from None
    device = getattr(model, "device", torch.device("cpu"))
    value_net = value_net.to(device).eval()
    return MCValue(model, None, value_net, window=tuple(value.network_steps), fill=value.fill)


def build_guide(config: Config, model: DiffusionModel):
    """The differentiable value that ``dps`` follows, built next to the model (or None)."""
    guide = config.value.guide
    if guide is None:
        return None
    return plugins.build("guide", guide.target, guide.options, model, key="value.guide.target")


def check_memory(config: Config, model: DiffusionModel) -> None:
    """Refuse a batch whose candidate states alone (``batch_size`` x the most candidates per chain) cannot fit
    in the denoiser device's memory: a lower bound on what a step needs, so it never refuses a run that fits."""
    run = config.run
    per_chain = max(run.num_candidates, int(run.options.get("init", 0) or 0))
    state = model.sample_prior(1, make_generator(0, getattr(model, "device", "cpu")))
    need = run.batch_size * per_chain * state.numel() * state.element_size()
    device = torch.device(getattr(model, "device", "cpu"))
    have = memory_bytes(device)
    if need > have:
        raise ConfigError(
            f"run.num_candidates: {run.batch_size} chains x {per_chain} candidates of {state.numel()} values need "
            f"at least {size_text(need)} per step, more than the denoiser's {device.type} has ({size_text(have)}); "
            "lower run.batch_size or run.num_candidates"
        )


class BatchRunner:
    """Advances the sampler coroutines of many batches of one run on one model.

    Building it builds everything the config names for the denoiser side (model, value network,
    guide); a failure there is a :class:`ConfigError` naming the key. :meth:`advance` runs the
    steps of several batches together, their model calls stacked into shared passes
    (:class:`~svdd_ray.engine.stacking.StackedModel`, at most ``resources.max_rows_per_pass`` rows).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        model = build_model(config)
        check_memory(config, model)
        max_rows = config.resources.max_rows_per_pass
        if max_rows is None:
            max_rows = default_rows_per_pass(getattr(model, "device", "cpu"))
        self.model = StackedModel(model, max_rows)
        self.value = build_value(config, self.model)
        if isinstance(self.value, MCValue):  # its network's calls stack with the model's
            net = self.value.value_net
            self.value.value_net = self.model.stacked("value", net, net.forward_stacked)
        self.options = dict(config.run.options)
        guide = build_guide(config, self.model)
        if guide is not None:
            self.options["guide"] = guide
        self._batches: dict[int, tuple[Sampler, dict]] = {}

    def probe_objects(self, n: int) -> list:
        """``n`` decoded samples of the pretrained model (seeded from the run seed; no batch's randomness),
        for the reward health probe before a run."""
        generator = make_generator(batch_seed(self.config.run.seed, PROBE_STREAM), getattr(self.model, "device", "cpu"))
        with torch.no_grad():
            return self.model.decode(final_states(self.model, n, generator))

    def advance(self, work: list[tuple[str, int, tuple]]) -> list:
        """Run ``(method, batch, args)`` items (``start`` / ``resume``) together, their model calls stacked; each
        item's outcome, or the exception it raised (one batch's failure is not the others'). The call's time is
        shared among its batches by the model rows each asked for."""
        began = time.perf_counter()
        tasks = [functools.partial(getattr(self, f"_{method}"), batch, *args) for method, batch, args in work]
        results = self.model.run_together(tasks)
        seconds = time.perf_counter() - began
        weights = [rows for _, rows in results]
        weights = weights if sum(weights) else [1] * len(results)
        total = sum(weights)
        out = []
        for (_, batch, _), (result, _), weight in zip(work, results, weights):
            share = seconds * weight / total
            if isinstance(result, BatchDone):
                result.denoise_s += share
            elif batch in self._batches:
                self._batches[batch][1]["seconds"] += share
            out.append(result)
        return out

    def start(self, batch: int, num_samples: int) -> NeedRewards | BatchDone:
        """Create batch ``batch`` (seeded from the run seed and the batch index) and run it."""
        return self._one("start", batch, num_samples)

    def resume(self, batch: int, rewards: np.ndarray) -> NeedRewards | BatchDone:
        """Hand the rewards of the last objects back to batch ``batch`` and run it on."""
        return self._one("resume", batch, rewards)

    def _one(self, method: str, batch: int, *args) -> NeedRewards | BatchDone:
        (result,) = self.advance([(method, batch, args)])
        if isinstance(result, BaseException):
            raise result
        return result

    def _start(self, batch: int, num_samples: int) -> NeedRewards | BatchDone:
        run = self.config.run
        generator = make_generator(batch_seed(run.seed, batch), getattr(self.model, "device", "cpu"))
        sampler = make_sampler(
            run.method,
            self.model,
            num_samples=num_samples,
            num_candidates=run.num_candidates,
            alpha=run.alpha,
            generator=generator,
            **self.options,
        )
        self._batches[batch] = (sampler, {"calls": 0, "seconds": 0.0, "request": None})
        return self._advance(batch, None)

    def _resume(self, batch: int, rewards: np.ndarray) -> NeedRewards | BatchDone:
        return self._advance(
            batch, as_values(torch.tensor(np.asarray(rewards, dtype=np.float64)), len(rewards), source="rewards")
        )

    def _advance(self, batch: int, values: torch.Tensor | None) -> NeedRewards | BatchDone:
        if batch not in self._batches:
            raise LookupError(f"batch {batch} is not on this denoiser (it was restarted)")
        sampler, state = self._batches[batch]
        try:
            with torch.no_grad():
                while True:
                    request = next(sampler) if values is None and state["request"] is None else sampler.send(values)
                    state["request"] = request
                    state["calls"] += len(request.x)
                    values = self.value.local_values(request.x, request.t)
                    if values is None:
                        objects = self.value.objects(request.x, request.t)
                        return NeedRewards(batch, request.t, objects, self.model.num_steps)
        except StopIteration as stop:
            x0, rewards = stop.value
            del self._batches[batch]
            return BatchDone(
                batch, self.model.decode(x0), rewards.cpu().numpy().astype(np.float64), state["calls"], state["seconds"]
            )
