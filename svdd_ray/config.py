"""Configurations: YAML files validated into typed dataclasses (run configs and training configs).

Every problem — an unknown key, a wrong type, a value out of range, a missing file — raises
:class:`ConfigError` with one line that names the key (``run.num_candidates``) or the file.
A thing to import is always named by ``target`` (a built-in name or ``"pkg.module:name"``, see
:mod:`svdd_ray.plugins`) with its keyword arguments in ``options`` beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from svdd_ray.errors import ConfigError
from svdd_ray.inprocess import check_sampler_options, sampler_options
from svdd_ray.plugins import domain_of_model
from svdd_ray.protocol import FILLS
from svdd_ray.samplers import METHODS, check_window, in_window

__all__ = ["Config", "ConfigError", "PluginSpec", "RewardComponent", "apply_override", "from_dict", "load_config"]


#: Sampler options renamed: one name per concept (a ``[start, stop]`` share of the reverse steps is ``*steps``;
#: ``keep`` is the share a pre-screen scores, so best-of-N's choice of mode is ``pick``).
RENAMED_OPTIONS = {"select_window": "select_steps", "keep": "pick"}


@dataclass
class RunConfig:
    """What to sample and how much."""

    method: str = "svdd"
    num_samples: int = 64
    batch_size: int = 16
    num_candidates: int = 1
    alpha: float = 0.0
    seed: int = 0
    options: dict = field(default_factory=dict)
    output_dir: str = "runs/default"
    trace: bool = False

    def check(self, path: str) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"{path}.method: must be one of {sorted(METHODS)}, got {self.method!r}")
        _at_least(self, path, "num_samples", 1)
        _at_least(self, path, "batch_size", 1)
        _at_least(self, path, "num_candidates", 1)
        _at_least(self, path, "seed", 0)
        if not math.isfinite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"{path}.alpha: must be a finite number >= 0, got {self.alpha}")
        if self.method in ("smc", "particle_gibbs") and self.alpha == 0:
            raise ConfigError(f"{path}.alpha: {self.method} needs alpha > 0")
        allowed = sampler_options(self.method)
        for key in self.options:
            if key in RENAMED_OPTIONS:
                raise ConfigError(f"{path}.options.{key}: renamed to {path}.options.{RENAMED_OPTIONS[key]}")
            if key not in allowed or key == "guide":
                raise ConfigError(
                    f"{path}.options.{key}: not an option of {self.method} (options: {allowed or 'none'})"
                )
        try:  # the sampler's own checks, on a stand-in model: a bad value is refused before the run starts
            check_sampler_options(self.method, num_candidates=self.num_candidates, alpha=self.alpha, **self.options)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{path}.options: {err}") from None


@dataclass
class PluginSpec:
    """A thing to import and build: ``target`` (built-in name or ``"pkg.module:name"``) and its ``options``.

    A plain string is accepted as shorthand for ``{target: STRING}``.
    """

    target: str
    options: dict = field(default_factory=dict)


@dataclass
class ModelConfig:
    """How each denoiser actor builds its model: ``target`` is a built-in model or ``"pkg.module:function"``.

    ``domain`` names the kind of objects the model decodes to (``molecules``, ``digits``, ...); it
    defaults to a built-in model's own domain, else ``generic``.
    """

    RENAMED: ClassVar[dict[str, str]] = {"factory": "target"}

    target: str = "bitstrings"
    options: dict = field(default_factory=dict)
    device: str = "auto"
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.domain is None:
            self.domain = domain_of_model(self.target)

    def check(self, path: str) -> None:
        if self.device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", self.device):
            raise ConfigError(f"{path}.device: must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass
class ValueConfig:
    """``pm``: reward of the denoised prediction; ``mc``: a value ``network`` (with ``checkpoint``) for t >= 1.

    ``network_steps`` (``mc``): the share of the reverse steps, ``[start, stop]``, where the network gives
    the values; the other steps use the PM value (the reward of the denoised prediction). ``[0, 0.6]``:
    a cheap network early, the reward where x0_hat is informative - a multi-fidelity value plan.

    ``guide`` (for ``dps``): a factory called as ``target(model, **options)`` that returns a
    differentiable value; it runs inside the denoiser actors.

    ``fill`` (masked models): what the reward reads for a partly masked state - ``argmax`` (the
    decoded argmax of ``x0_hat``, any model), ``sample`` (one completion drawn from ``x0_hat``),
    ``soft`` (the ``x0_hat`` probabilities) or ``uniform`` (``1 / alphabet`` at masked positions);
    ``soft`` and ``uniform`` need rewards that read probabilities (``reads_probabilities``).
    """

    RENAMED: ClassVar[dict[str, str]] = {"network_options": "network.options", "guide_options": "guide.options"}

    kind: str = "pm"
    network: PluginSpec | None = None
    checkpoint: str | None = None
    guide: PluginSpec | None = None
    network_steps: list = field(default_factory=lambda: [0.0, 1.0])
    fill: str = "argmax"

    def check(self, path: str) -> None:
        _window(self, path, "network_steps")
        if self.fill not in FILLS:
            raise ConfigError(f"{path}.fill: must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if self.kind not in ("pm", "mc"):
            raise ConfigError(f"{path}.kind: must be 'pm' or 'mc', got {self.kind!r}")
        if self.kind == "mc":
            for key in ("network", "checkpoint"):
                if getattr(self, key) is None:
                    raise ConfigError(f"{path}.{key}: required when kind is 'mc'")
            if not Path(self.checkpoint).is_file():
                raise ConfigError(f"{path}.checkpoint: file not found: {self.checkpoint}")


@dataclass
class PrescreenConfig:
    """Score only the best share of each step's candidates with this reward; the rest get a surrogate's value.

    ``surrogate`` (built-ins ``morgan_ridge``, ``onehot_ridge``) is refitted at every step of a batch on
    the scores that batch has seen (a surrogate fitted offline, ``options: {weights: ...}``, stays as
    it is); it ranks the candidates not in the cache, the top ``keep`` share (``explore`` of that share
    drawn at random instead) is scored, the others take its prediction. A batch scores everything
    until it has seen ``min_scored`` scores (0 suits a surrogate fitted offline). Final candidates
    (t = 0) are scored in full unless ``final`` is true: then the top ``keep`` share of each chain's
    final candidates (at least one) is scored and the others get no value, so they are never chosen
    and every output's reward is still real (best-of-N: dock only the surrogate's top picks).
    """

    surrogate: PluginSpec
    keep: float = 0.25
    explore: float = 0.1
    min_scored: int = 16
    final: bool = False

    def check(self, path: str) -> None:
        if not 0 < self.keep <= 1:
            raise ConfigError(f"{path}.keep: must be in (0, 1], got {self.keep!r}")
        if not 0 <= self.explore <= 1:
            raise ConfigError(f"{path}.explore: must be in [0, 1], got {self.explore!r}")
        _at_least(self, path, "min_scored", 0)


@dataclass
class RewardComponent:
    """One reward, its weight and bounds, scored by its own pool of reward actors.

    ``target`` is the reward to import; ``name`` labels it (the ``reward_<name>`` column and the
    cache) and defaults to ``target``. ``prescreen`` (:class:`PrescreenConfig`) spends this reward
    only on the candidates a surrogate ranks best. ``steps`` (``[start, stop]``, shares of the reverse
    steps) limits the component to part of the run: ``[0, 0.6]`` a cheap reward early, ``[0.6, 1]`` the
    expensive one late (values at other steps leave it out; final samples get the components whose
    ``steps`` end at 1).
    """

    HINTS: ClassVar[dict[str, str]] = {"target": "the reward to import; 'name' is now only its label"}

    target: str
    name: str | None = None
    weight: float = 1.0
    options: dict = field(default_factory=dict)
    clip: list | None = None
    require: list | None = None
    actors: int = 1
    num_cpus: float = 1.0
    chunk_size: int = 16
    timeout_s: float = 300.0
    prescreen: PrescreenConfig | None = None
    steps: list = field(default_factory=lambda: [0.0, 1.0])

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = self.target

    @property
    def cache_label(self) -> str:
        """The component's namespace in the reward cache: its name and a digest of its target and options, so
        a persistent cache never serves scores made with other options (a capped dock's for the full one)."""
        spec = json.dumps({"target": self.target, "options": self.options}, sort_keys=True, default=str)
        return f"{self.name}@{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def scores_states_at(self, t: int, num_steps: int) -> bool:
        """Whether this component scores states ``x_t``: those made by step t + 1 (the initial states, t = T,
        count with the first step; ``t = 0``, the final samples, with the components whose window ends at 1)."""
        return self.steps[1] == 1.0 if t == 0 else in_window(min(t + 1, num_steps), num_steps, self.steps)

    def check(self, path: str) -> None:
        _window(self, path, "steps")
        _at_least(self, path, "actors", 1)
        _at_least(self, path, "chunk_size", 1)
        if self.num_cpus < 0:
            raise ConfigError(f"{path}.num_cpus: must be >= 0, got {self.num_cpus}")
        if not self.timeout_s > 0:
            raise ConfigError(f"{path}.timeout_s: must be > 0, got {self.timeout_s}")
        if not math.isfinite(self.weight):
            raise ConfigError(f"{path}.weight: must be a finite number, got {self.weight}")
        for key in ("clip", "require"):
            bounds = getattr(self, key)
            if bounds is None:
                continue
            if len(bounds) != 2 or not all(
                b is None or (isinstance(b, (int, float)) and not isinstance(b, bool) and not math.isnan(b))
                for b in bounds
            ):
                raise ConfigError(f"{path}.{key}: must be [low, high] (null for open), got {bounds!r}")
            low, high = bounds
            if low is not None and high is not None and low > high:
                raise ConfigError(f"{path}.{key}: low {low} is above high {high}")


@dataclass
class RewardConfig:
    """The reward: a weighted sum of components, with a run-wide cache.

    ``probe``: before the run, up to this many pretrained samples go through every component, one
    call at a time until one scores (a healthy reward costs one call); a component for which all fail
    stops the run with its first exception, before anything is written. 0 skips the probe.
    """

    components: list[RewardComponent] = field(default_factory=lambda: [RewardComponent(target="ones")])
    cache: bool = True
    cache_file: str | None = None
    probe: int = 8

    def check(self, path: str) -> None:
        _at_least(self, path, "probe", 0)
        if not self.components:
            raise ConfigError(f"{path}.components: at least one reward is needed")
        names = [c.name for c in self.components]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"{path}.components: reward names must be unique, got {names} (set 'name' to tell them apart)"
            )
        covered = 0.0
        for start, stop in sorted(c.steps for c in self.components):
            if start > covered:
                break
            covered = max(covered, stop)
        if covered < 1.0:
            raise ConfigError(
                f"{path}.components: no component scores the steps from {covered:g} on "
                "(their 'steps' windows must cover [0, 1] together)"
            )


@dataclass
class ResourcesConfig:
    """Where and how wide to run."""

    backend: str = "ray"
    address: str | None = None
    num_cpus: int | None = None
    denoiser_actors: int = 1
    denoiser_num_cpus: float = 1.0
    denoiser_num_gpus: float = 0.0
    max_inflight_batches: int = 4
    max_rows_per_pass: int | None = None  # None: by the denoiser's device (engine.stacking.default_rows_per_pass)
    max_retries: int = 2
    start_timeout_s: float = 600.0
    connect_timeout_s: float = 30.0

    def check(self, path: str) -> None:
        if self.backend not in ("ray", "local"):
            raise ConfigError(f"{path}.backend: must be 'ray' or 'local', got {self.backend!r}")
        _at_least(self, path, "denoiser_actors", 1)
        _at_least(self, path, "max_inflight_batches", 1)
        if self.max_rows_per_pass is not None:
            _at_least(self, path, "max_rows_per_pass", 0)
        _at_least(self, path, "max_retries", 0)
        if self.denoiser_num_cpus < 0 or self.denoiser_num_gpus < 0:
            raise ConfigError(f"{path}.denoiser_num_cpus/num_gpus: must be >= 0")
        if not self.start_timeout_s > 0:
            raise ConfigError(f"{path}.start_timeout_s: must be > 0, got {self.start_timeout_s}")
        if not 0 < self.connect_timeout_s < math.inf:
            raise ConfigError(f"{path}.connect_timeout_s: must be > 0 and finite, got {self.connect_timeout_s}")


@dataclass
class Config:
    """A whole run."""

    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def check(self, path: str) -> None:
        if self.run.method == "dps" and self.value.guide is None:
            raise ConfigError(f"{path}.value.guide: required for method dps (a differentiable value factory)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _window(obj: Any, path: str, key: str) -> None:
    try:
        check_window(getattr(obj, key))
    except ValueError as err:
        raise ConfigError(f"{path}.{key}: {err}") from None


def _at_least(obj: Any, path: str, key: str, low: int) -> None:
    if getattr(obj, key) < low:
        raise ConfigError(f"{path}.{key}: must be >= {low}, got {getattr(obj, key)}")


#: Numbers in exponent form that YAML 1.1 leaves as strings: ``1e-3``, ``-2E5``.
_YAML11_FLOAT = re.compile(r"[-+]?\d+[eE][-+]?\d+")


def _convert(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against the type ``hint`` (dataclasses recursively)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(h for h in options if h is not type(None))
        origin = typing.get_origin(hint)
    if hint is PluginSpec and isinstance(value, str):
        value = {"target": value}
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if hint is list and not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
    if hint is dict and not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for old, new in getattr(cls, "RENAMED", {}).items():
        if old in data:
            raise ConfigError(f"{path}.{old}: renamed to {path}.{new}")
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        hint = getattr(cls, "HINTS", {}).get(missing[0])
        raise ConfigError(f"{path}.{missing[0]}: required key is missing" + (f" ({hint})" if hint else ""))
    obj = cls(**{k: _convert(v, hints[k], f"{path}.{k}") for k, v in data.items()})
    if hasattr(obj, "check"):
        obj.check(path)
    return obj


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a mapping with the same key twice (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """``text`` as YAML (the safe subset), a duplicate key in any mapping refused."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: its problem and where."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if problem is None:
        return str(err).splitlines()[0]
    return problem + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else "")


def apply_override(data: dict, override: str) -> None:
    """Apply one ``dotted.key=value`` override (value parsed as YAML) to a raw config mapping.

    A numeric part indexes a list: ``reward.components.0.actors=4``.
    """
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected key=value")
    key, raw = override.split("=", 1)
    try:
        value = parse_yaml(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"override {override!r}: the value is not valid YAML ({_yaml_problem(err)})") from None
    parts = key.strip().split(".")
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{key}: {part} is not an index of a list of {len(node)}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ConfigError(f"{key}: {parts[depth - 1]} is not a mapping or list")


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file's contents; ConfigError (one line, naming the file) if it is missing, not UTF-8 text or bad YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {'a directory, not a config file' if path.is_dir() else 'config file not found'}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (a YAML config is expected)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror})") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: a binary file, not a YAML config")
    try:
        return parse_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None


def load_config(path: str | Path, overrides: list[str] = (), schema: type = Config) -> Any:
    """Read, override and validate a YAML configuration into the dataclass ``schema`` (a run by default)."""
    data = read_yaml_file(path)
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    for override in overrides:
        apply_override(data, override)
    return from_dict(schema, data, "config")


def as_schema(schema: type, config: Any) -> Any:
    """``config`` itself if it is a ``schema``, else a mapping (or None: all defaults) validated into one."""
    return config if isinstance(config, schema) else from_dict(schema, config or {}, "config")


def load_checkpoint_config(
    directory: Path, schema: type, files: tuple[str, ...], overrides: dict | None = None, upgrade=None
) -> tuple[Any, dict]:
    """The training config saved in a checkpoint ``directory`` (its ``config.yaml``), validated into ``schema``.

    ``files`` must all exist. ``upgrade(saved) -> extras`` may rewrite old keys in place and pop
    keys that are not part of the schema (returned as ``extras``). ``overrides`` replace entries
    of the ``diffusion`` section; their errors name them ``load_prior.<key>``.
    """
    for name in files:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing (train with jobs/train_prior.py)")
    saved = yaml.safe_load((directory / "config.yaml").read_text()) or {}
    if "out_dir" in saved:  # a checkpoint saved before the key was renamed
        saved["output_dir"] = saved.pop("out_dir")
    extras = upgrade(saved) if upgrade else {}
    config = from_dict(schema, saved, "config")
    if overrides:
        section = typing.get_type_hints(schema)["diffusion"]
        diffusion = from_dict(section, {**dataclasses.asdict(config.diffusion), **overrides}, "load_prior")
        config = dataclasses.replace(config, diffusion=diffusion)
    return config, extras
