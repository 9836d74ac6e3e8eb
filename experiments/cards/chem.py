"""Evaluate a trained MOSES prior and write its model card.

    python -m experiments.cards.chem --ckpt-dir checkpoints/moses [--num-samples 10000] [--device cuda]
        [--compare-samples OTHER.smi --compare-label "old prior"] [--experiments EXPERIMENTS.md]
    python -m experiments.cards.chem --samples FILE.smi --sampling-note "..."   # score drawn samples

Samples ``--num-samples`` molecules from the prior (``svdd_ray.sample`` with
``method="pretrained"``), draws the same number of random token
strings whose lengths follow the train set's length distribution (the trivial
baseline), computes :func:`svdd_ray.chem.metrics.evaluate` for both (the MOSES
metrics: novelty against MOSES train, FCD/SNN/Frag/Scaf against MOSES test's shipped
statistics, IntDiv, Filters; property distances against 10,000 MOSES test
molecules) and writes ``MODEL_CARD.md``, ``metrics.json`` and the
samples (``prior_samples.smi``) into the checkpoint directory. ``--samples`` scores SMILES drawn
earlier (one per line, e.g. on a GPU machine) instead of sampling here.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import yaml

__all__ = ["sample_prior", "random_token_baseline", "render", "write_model_card", "meets_goal", "main"]


def sample_prior(model, num_samples: int, seed: int = 0, batch_size: int = 1000) -> list[str]:
    """``num_samples`` SMILES from the pretrained prior (ancestral sampling, batched).

    A left-to-right prior samples in one block (the same distribution as any block size, fastest).
    """
    import svdd_ray
    from svdd_ray.models.autoregressive import LeftToRightDiffusion

    if isinstance(model, LeftToRightDiffusion):
        model = model.with_block_size(model.seq_len)

    def zero_value(x, t):
        return torch.zeros(len(x))

    out: list[str] = []
    batch = 0
    while len(out) < num_samples:
        n = min(batch_size, num_samples - len(out))
        result = svdd_ray.sample(model, zero_value, method="pretrained", num_samples=n, seed=seed + batch)
        out.extend(result.objects)
        batch += 1
    return out


def random_token_baseline(vocab, lengths: np.ndarray, num_samples: int, seed: int = 0) -> list[str]:
    """Uniformly random non-pad tokens, with lengths drawn from ``lengths``, decoded."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((num_samples, vocab.seq_len), dtype=np.int64)
    drawn = rng.choice(lengths, size=num_samples, replace=True)
    for row, length in enumerate(drawn):
        ids[row, :length] = rng.integers(1, vocab.size, size=int(length))
    return vocab.decode(torch.from_numpy(ids))


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


#: metric -> (meaning, goal of issue 11 as text); goals "within 3 points of test" are checked against the test column.
ROWS = {
    "validity": ("fraction of samples that decode to a molecule", ">= 0.95"),
    "uniqueness": ("distinct / valid", ">= 0.99"),
    "novelty": ("distinct valid not in MOSES train", ">= 0.8"),
    "FCD/Test": ("Fréchet ChemNet Distance to MOSES test (176,074 molecules; lower is closer)", "<= 1.0"),
    "Filters": ("valid samples passing MOSES' filters (MCF, PAINS, atoms, charges, rings)", "test ± 0.03"),
    "aromatic": ("valid samples with an aromatic ring", "test ± 0.03"),
    "macrocycle": ("valid samples with a ring of more than 8 atoms", "test ± 0.03"),
    "SNN/Test": ("mean Tanimoto similarity to the nearest MOSES test molecule (Morgan r2, 1024 bits)", ""),
    "Frag/Test": ("cosine similarity of BRICS fragment counts with MOSES test", ""),
    "Scaf/Test": ("cosine similarity of Bemis-Murcko scaffold counts (2+ rings) with MOSES test", ""),
    "IntDiv": ("MOSES IntDiv: 1 - mean Tanimoto over all pairs of valid samples (Morgan r2, 1024 bits)", ""),
    "IntDiv2": ("MOSES IntDiv2: 1 - mean root-mean-square Tanimoto", ""),
    "internal_diversity": ("1 - mean pairwise Tanimoto of distinct molecules (Morgan r2, 2048 bits; 2,000)", ""),
    "w1_qed": ("Wasserstein-1 of QED vs MOSES test", ""),
    "w1_sa": ("Wasserstein-1 of SA score (1-10) vs test", ""),
    "w1_logp": ("Wasserstein-1 of logP vs test", ""),
    "w1_mw": ("Wasserstein-1 of molecular weight vs test", ""),
}


def meets_goal(key: str, value: float | None, test_value: float | None) -> bool | None:
    """Whether ``value`` meets issue 11's goal for ``key`` (``None``: no goal, or not measured)."""
    goal = ROWS.get(key, ("", ""))[1]
    if not goal or value is None or math.isnan(value):
        return None
    if goal.startswith("test"):
        return None if test_value is None or math.isnan(test_value) else abs(value - test_value) <= 0.03
    bound = float(goal.split()[1])
    return value >= bound if goal.startswith(">=") else value <= bound


def _describe(config: dict, ckpt_dir: Path) -> tuple[str, str, str]:
    """Title, description and model lines of the card, by the prior's kind."""
    resolved, diffusion = config.get("resolved", {}), config["diffusion"]
    tokens = config.get("data", {}).get("tokens", "selfies")
    token_text = "atom-level SMILES" if tokens == "smiles" else "SELFIES"
    pad = "`<end>`, which ends the molecule" if tokens == "smiles" else "`[nop]`"
    vocab_line = (
        f"{resolved.get('vocab_size')} {token_text} tokens (id 0 = pad {pad}), mask id "
        f"{resolved.get('mask_id')}, sequence length {resolved.get('seq_len')}"
    )
    if diffusion.get("order") == "left_to_right":
        lstm = config["lstm"]
        steps = -(-int(resolved.get("seq_len", 0)) // int(diffusion["block_size"]))
        title = f"MOSES left-to-right prior ({token_text})"
        about = f"""Pretrained prior for SVDD on molecules: a discrete diffusion that reveals masked {token_text}
tokens from left to right, {diffusion["block_size"]} per reverse step
(`svdd_ray.models.autoregressive.LeftToRightDiffusion`), each drawn from a causal LSTM
(`CausalLSTM`: embedding {lstm["d_embed"]}, {lstm["layers"]} layers of {lstm["hidden"]}). SVDD's candidates at
a step are different continuations of the next block; the model's x0 estimate is the greedy
completion of the revealed prefix.

Load it with `model = svdd_ray.chem.train.load_prior("{ckpt_dir}")` (config `target: moses_smiles`;
`model.decode(x0)` gives canonical SMILES, `""` for an invalid string). `prior.pt` is a plain
`state_dict`: `torch.load(path, weights_only=True)`."""
        model_line = f"reverse steps: {steps} ({diffusion['block_size']} tokens per step; `block_size` option)"
    else:
        title = f"MOSES masked-diffusion prior ({token_text})"
        about = f"""Pretrained prior for SVDD on molecules: an MDLM-style absorbing-state (masked) diffusion
model, `svdd_ray.models.MaskedDiffusion`, over {token_text} tokens of the MOSES train set, with
the bidirectional transformer `svdd_ray.models.transformer.SequenceTransformer` as network.

Load it with `model = svdd_ray.chem.train.load_prior("{ckpt_dir}")` (a `MaskedDiffusion`;
`model.decode(x0)` gives canonical SMILES). `prior.pt` is a plain `state_dict`:
`torch.load(path, weights_only=True)`."""
        model_line = f"reverse steps: {diffusion['num_steps']}"
    return title, about, f"* vocabulary: {vocab_line}\n* {model_line}"


def render(
    ckpt_dir: Path,
    config: dict,
    log: dict,
    metrics: dict,
    examples: list[str],
    sampling: str,
    num_samples: int,
    experiments: str = "",
) -> str:
    """The ``MODEL_CARD.md`` of the prior in ``ckpt_dir``; ``config`` is the saved config (``model.train_config``).

    ``metrics`` holds ``prior``, ``baseline`` (random tokens), optionally ``test_subsample`` and
    ``compare`` (another prior, labelled by ``compare_label``); ``experiments`` is markdown added as is.
    """
    resolved = config.get("resolved", {})
    columns = [("prior", "this prior")]
    if "compare" in metrics:
        columns.append(("compare", metrics.get("compare_label", "other prior")))
    ref = metrics.get("test_subsample", {})
    columns += [("baseline", "random tokens"), ("test_subsample", f"MOSES test ({int(ref.get('n', 0))} others)")]
    table = [
        "| metric | " + " | ".join(label for _, label in columns) + " | goal | meets goal | meaning |",
        "|---" * (len(columns) + 4) + "|",
    ]
    for key, (meaning, goal) in ROWS.items():
        cells = " | ".join(_fmt(metrics.get(name, {}).get(key)) for name, _ in columns)
        met = meets_goal(key, metrics["prior"].get(key), ref.get(key))
        table.append(f"| {key} | {cells} | {goal} | {'' if met is None else ('yes' if met else 'no')} | {meaning} |")
    curve = log.get("loss_curve", [])
    picks = curve[:: max(1, len(curve) // 12)] + (curve[-1:] if curve else [])
    seen, loss_rows = set(), []
    for e in picks:
        if e["step"] not in seen:
            seen.add(e["step"])
            loss_rows.append(f"| {e['step']} | {e['seconds']:.0f} | {e['loss']:.4f} |")
    val = log.get("val_curve", [])
    cfg_text = yaml.safe_dump({k: v for k, v in config.items() if k != "resolved"}, sort_keys=False)
    tcfg = config["train"]
    size_mb = (ckpt_dir / "prior.pt").stat().st_size / 1e6
    weights = f"EMA (decay {tcfg['ema_decay']})" if tcfg.get("ema_decay") else "plain"
    data_line = (
        f"MOSES train split (molsets wheel), {resolved.get('train_molecules')} molecules for "
        f"training, {resolved.get('val_molecules')} held out"
    )
    steps_line = (
        f"{log.get('steps')} (batch {tcfg['batch_size']}, {log.get('epochs', 0):.3f} epochs), wall time "
        f"{log.get('wall_seconds', 0) / 60:.1f} min on {resolved.get('device')} (torch "
        f"{resolved.get('torch')}, {tcfg.get('num_threads')} thread(s)); finished: {log.get('finished')}"
    )
    left_to_right = config["diffusion"].get("order") == "left_to_right"
    loss_name = "NLL/token" if left_to_right else "NELBO/token"
    final_val = _fmt(val[-1]["val_loss"] if val else float("nan"), 4)
    title, about, model_lines = _describe(config, ckpt_dir)
    return f"""# {title}

{about}

## Model
{model_lines}
* parameters: {resolved.get("num_parameters")} ({size_mb:.1f} MB state_dict); weights: {weights}

## Training
* data: {data_line}
* steps: {steps_line}
* final validation {loss_name} (nats): {final_val}

| step | seconds | train loss ({loss_name}) |
|---|---|---|
{chr(10).join(loss_rows)}

## Sample quality ({num_samples} samples, seed {metrics.get("seed")})
{sampling} The random-token baseline decodes uniformly random non-pad tokens with
the train set's length distribution. The MOSES metrics (Polykovskiy et al. 2020) follow MOSES'
definitions: they count every valid sample, duplicates included; FCD, SNN, Frag and Scaf compare
with the statistics of the whole MOSES test set that ship with MOSES (`test_stats.npz`). Property
distances are to {metrics.get("reference_size")} random MOSES test molecules. The MOSES-test column
scores a disjoint sample of test molecules the same way (the noise floor); being part of the test
set, its SNN is 1 and its FCD, Frag and Scaf are slightly flattering. Goals are issue 11's.

{chr(10).join(table)}

Example samples: {", ".join(f"`{s}`" for s in examples)}
{experiments}
## Configuration
```yaml
{cfg_text}```
"""


def write_model_card(
    ckpt_dir: Path,
    config: dict,
    log: dict,
    metrics: dict,
    examples: list[str],
    sampling: str,
    num_samples: int,
    experiments: str = "",
) -> Path:
    """Write :func:`render` as ``ckpt_dir / "MODEL_CARD.md"``."""
    path = ckpt_dir / "MODEL_CARD.md"
    path.write_text(render(ckpt_dir, config, log, metrics, examples, sampling, num_samples, experiments))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-dir", default="checkpoints/moses")
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference-size", type=int, default=10_000)
    parser.add_argument("--device", default="cpu", help="where to sample and run ChemNet (cpu, cuda)")
    parser.add_argument("--samples", help="score these SMILES (one per line) instead of sampling")
    parser.add_argument("--sampling-note", default="", help="how --samples were drawn, for the card")
    parser.add_argument("--compare-samples", help="SMILES of another prior (one per line) to score beside this one")
    parser.add_argument("--compare-label", default="other prior", help="column title of --compare-samples")
    parser.add_argument("--experiments", help="a markdown file added to the card as its experiments section")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from svdd_ray.chem.data import load_smiles
    from svdd_ray.chem.metrics import evaluate, moses_test_stats, moses_train_keys, property_values
    from svdd_ray.chem.train import load_prior

    ckpt_dir = Path(args.ckpt_dir)
    model = load_prior(ckpt_dir, device=args.device)
    vocab, config = model.vocab, model.train_config
    log = json.loads((ckpt_dir / "train_log.json").read_text()) if (ckpt_dir / "train_log.json").is_file() else {}

    def say(msg: str) -> None:
        print(f"[model_card {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if args.samples:
        samples = Path(args.samples).read_text().splitlines()[: args.num_samples]
        if len(samples) < args.num_samples:
            raise SystemExit(
                f"--samples {args.samples}: {len(samples)} lines, fewer than --num-samples {args.num_samples}"
            )
        note = f": {args.sampling_note}" if args.sampling_note else ""
        sampling = f"Samples read from `{Path(args.samples).name}`{note}."
    else:
        say(f"sampling {args.num_samples} molecules from the prior on {args.device} ...")
        t0 = time.time()
        with torch.no_grad():
            samples = sample_prior(model, args.num_samples, seed=args.seed, batch_size=args.batch_size)
        sampling = f"Sampling took {time.time() - t0:.0f} s on {args.device}."
        say(sampling)
    if Path(args.samples or "").resolve() != (ckpt_dir / "prior_samples.smi").resolve():
        (ckpt_dir / "prior_samples.smi").write_text("\n".join(samples) + "\n")

    train_smiles = load_smiles("train")
    rng = random.Random(args.seed)
    length_sample = rng.sample(train_smiles, 20000)
    lengths = vocab.lengths(vocab.encode(length_sample, strict=False)).numpy()
    baseline = random_token_baseline(vocab, lengths[lengths > 0], args.num_samples, seed=args.seed)

    say("MOSES train keys and test statistics ...")
    train_set = moses_train_keys()
    test_stats = moses_test_stats()
    test = load_smiles("test")
    test_sample = random.Random(args.seed).sample(test, min(args.reference_size, len(test)))
    say("reference properties ...")
    reference = property_values(test_sample)
    metrics = {"seed": args.seed, "num_samples": args.num_samples, "reference_size": len(test_sample)}
    moses = {"test": test_stats, "device": args.device}
    say("metrics: prior ...")
    metrics["prior"] = evaluate(samples, train=train_set, reference=reference, seed=args.seed, **moses)
    say("metrics: baseline ...")
    metrics["baseline"] = evaluate(baseline, train=train_set, reference=reference, seed=args.seed, **moses)
    # a second, disjoint test sample shows the distances' noise floor
    other = [
        s
        for s in random.Random(args.seed + 1).sample(test, min(2 * args.reference_size, len(test)))
        if s not in set(test_sample)
    ][: args.reference_size]
    say("metrics: test-set floor ...")
    metrics["test_subsample"] = evaluate(other, train=train_set, reference=reference, seed=args.seed, **moses)
    if args.compare_samples:
        say(f"metrics: {args.compare_label} ...")
        compare = Path(args.compare_samples).read_text().splitlines()[: args.num_samples]
        metrics["compare"] = evaluate(compare, train=train_set, reference=reference, seed=args.seed, **moses)
        metrics["compare_label"] = args.compare_label
    experiments = ""
    if args.experiments:  # a document of its own: its headings one level down
        lines = Path(args.experiments).read_text().splitlines()
        experiments = "\n" + "\n".join("#" + line if line.startswith("#") else line for line in lines) + "\n"
    (ckpt_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    examples = [s for s in samples if s][:8]
    path = write_model_card(ckpt_dir, config, log, metrics, examples, sampling, args.num_samples, experiments)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
