"""One home for plugins: every model, reward, value network, guide and domain a config names.

A config names a thing to import with ``target``: a built-in name of its kind (``moses``,
``qed``) or ``"pkg.module:name"`` from any installed package or the working directory, with
its keyword arguments in ``options`` next to it. :func:`resolve` imports the target and
:func:`build` calls it; both raise :class:`~svdd_ray.errors.ConfigError` with one line that
names the config key and the kind.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from svdd_ray.errors import ConfigError, one_line

#: Built-ins per kind; a domain package is imported only when one of its names is used.
BUILTINS: dict[str, dict[str, str]] = {
    "model": {
        "bitstrings": "svdd_ray.demo:bitstrings",
        "moses": "svdd_ray.chem.train:load_prior",
        "moses_smiles": "svdd_ray.chem.train:load_smiles_prior",
        "digits": "svdd_ray.images.train:load_prior",
        "dna": "svdd_ray.dna.prior:load_prior",
        "rna": "svdd_ray.rna.prior:load_prior",
    },
    "reward": {
        "ones": "svdd_ray.demo:ones",
        "sleepy_ones": "svdd_ray.demo:SleepyOnes",
        "qed": "svdd_ray.chem.rewards:qed",
        "sa": "svdd_ray.chem.rewards:sa",
        "logp": "svdd_ray.chem.rewards:logp",
        "penalized_logp": "svdd_ray.chem.rewards:penalized_logp",
        "molecular_weight": "svdd_ray.chem.rewards:molecular_weight",
        "docking": "svdd_ray.chem.docking:DockingReward",
        "surrogate": "svdd_ray.surrogates:SurrogateReward",
        "compressibility": "svdd_ray.images.rewards:compressibility",
        "digit": "svdd_ray.images.rewards:DigitReward",
        "hepg2": "svdd_ray.dna.rewards:HepG2Specificity",
        "hepg2_oracle": "svdd_ray.dna.rewards:HepG2Oracle",
        "liver_motifs": "svdd_ray.dna.motifs:LiverMotifs",
        "rna_stability": "svdd_ray.rna.rewards:stability",
        "rna_structure": "svdd_ray.rna.rewards:TargetStructure",
    },
    "value network": {
        "bits": "svdd_ray.demo:BitValueNet",
        "selfies": "svdd_ray.chem.value_net:SelfiesValueNet",
        "fingerprint": "svdd_ray.chem.value_net:FingerprintValueNet",
        "digits": "svdd_ray.images.value_net:DigitsValueNet",
        "dna": "svdd_ray.dna.value_net:DnaValueNet",
    },
    "guide": {
        "ones": "svdd_ray.demo:ones_guide",
        "digit": "svdd_ray.images.rewards:digit_guide",
        "hepg2": "svdd_ray.dna.rewards:hepg2_guide",
    },
    "surrogate": {
        "morgan_ridge": "svdd_ray.chem.surrogates:morgan_ridge",
        "onehot_ridge": "svdd_ray.surrogates:onehot_ridge",
    },
    "prior trainer": {  # a domain's training-config schema; its module has ``train_prior(config, out_dir)``
        "molecules": "svdd_ray.chem.train:MolPriorConfig",
        "digits": "svdd_ray.images.train:DigitsPriorConfig",
        "dna": "svdd_ray.dna.prior:DnaPriorConfig",
    },
    "domain": {
        "generic": "svdd_ray.domains:GenericDomain",
        "bitstrings": "svdd_ray.demo:BitstringDomain",
        "molecules": "svdd_ray.chem.domain:MoleculeDomain",
        "digits": "svdd_ray.images.domain:DigitsDomain",
        "dna": "svdd_ray.dna.domain:DnaDomain",
        "rna": "svdd_ray.rna.domain:RnaDomain",
    },
}

#: The domain of each built-in model's objects (a model from outside names its own, or is generic).
MODEL_DOMAINS = {
    "bitstrings": "bitstrings",
    "moses": "molecules",
    "moses_smiles": "molecules",
    "digits": "digits",
    "dna": "dna",
    "rna": "rna",
}


def _kind_table(kind: str) -> dict[str, str]:
    if kind not in BUILTINS:
        raise ValueError(f"unknown plugin kind {kind!r}: one of {', '.join(BUILTINS)}")
    return BUILTINS[kind]


def _unknown(kind: str, target: str, key: str) -> ConfigError:
    table = _kind_table(kind)
    for other, names in BUILTINS.items():
        if other != kind and target in names:
            return ConfigError(
                f"{key}: {target!r} is a built-in {other}, not a {kind} (built-in {kind}s: {', '.join(table)})"
            )
    close = difflib.get_close_matches(target, table, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{key}: unknown {kind} {target!r}: not a built-in {kind} ({', '.join(table)}) nor 'pkg.module:name'{hint}"
    )


def resolve(kind: str, target: str, key: str | None = None) -> Any:
    """Import the ``kind`` plugin ``target`` (a built-in name or ``"pkg.module:name"``) and return it."""
    key = key or kind
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{key}: expected the name of a {kind}, got {target!r}")
    path = _kind_table(kind).get(target, target)
    if ":" not in path:
        raise _unknown(kind, target, key)
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{key}: cannot import {module_name} for {kind} {target!r} ({err})") from None
    except Exception as err:  # noqa: BLE001 - the module itself is broken (SyntaxError, NameError, ...)
        raise ConfigError(f"{key}: importing {module_name} for {kind} {target!r} failed: {one_line(err)}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{key}: {module_name} has no attribute {attr!r} (the {kind} to import)") from None


def build(kind: str, target: str, options: dict | None = None, *args: Any, key: str | None = None) -> Any:
    """Resolve ``target`` and call it with ``*args`` and ``options``; any failure is a ConfigError.

    A class is instantiated; a function is called — except a reward function, which is itself
    the reward, so its options are bound (``functools.partial``) rather than called. Options
    the target does not take are refused naming the ``options`` key beside ``key``.
    """
    key = key or kind
    obj = resolve(kind, target, key)
    options = dict(options or {})
    if not callable(obj):
        raise ConfigError(f"{key}: {kind} {target!r} is {type(obj).__name__}, not something to call")
    options_key = key.removesuffix(".target") + ".options" if key.endswith(".target") else f"{key} options"
    reward_function = kind == "reward" and not inspect.isclass(obj)
    _check_options(obj, [[]] if reward_function else args, options, f"{kind} {target!r}", options_key)
    if reward_function:
        return functools.partial(obj, **options) if options else obj
    try:
        return obj(*args, **options)
    except ConfigError as err:  # the plugin refused what its options asked for
        raise ConfigError(f"{options_key}: {err}") from None
    except Exception as err:  # noqa: BLE001 - a plugin's failure to build is a config error
        raise ConfigError(f"{key}: building {kind} {target!r} failed: {one_line(err)}") from None


def _check_options(fn: Any, args: Any, options: dict, what: str, options_key: str) -> None:
    """Refuse options that ``fn`` does not take, before it is called."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature (a builtin): let the call decide
        return
    try:
        signature.bind_partial(*args, **options)
    except TypeError as err:
        takes = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise ConfigError(f"{options_key}: {what} {err} (it takes: {', '.join(takes) or 'nothing'})") from None


def domain_of_model(target: str) -> str:
    """The domain of a built-in model's objects; ``generic`` for any other model."""
    return MODEL_DOMAINS.get(target, "generic")


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<exports[name]>`` only when ``name`` is first used.

    Domain packages use it so that ``import svdd_ray.chem`` costs nothing until a name is needed.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
