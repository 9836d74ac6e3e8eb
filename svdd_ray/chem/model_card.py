"""Evaluate a trained MOSES prior and write its model card.

    python -m svdd_ray.chem.model_card --ckpt-dir checkpoints/moses [--num-samples 10000] [--device cuda]
    python -m svdd_ray.chem.model_card --samples FILE.smi --sampling-note "..."   # score drawn samples

Samples ``--num-samples`` molecules from the prior (``svdd_ray.sample`` with
``method="pretrained"``), draws the same number of random SELFIES token
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

__all__ = ["sample_prior", "random_token_baseline", "write_model_card", "main"]


def sample_prior(model, num_samples: int, seed: int = 0, batch_size: int = 1000) -> list[str]:
    """``num_samples`` SMILES from the pretrained prior (ancestral sampling, batched)."""
    import svdd_ray

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


def write_model_card(
    ckpt_dir: Path, config: dict, log: dict, metrics: dict, examples: list[str], sampling: str, num_samples: int
) -> Path:
    """Write ``MODEL_CARD.md`` into ``ckpt_dir``; ``config`` is the saved config (``model.train_config``)."""
    resolved = config.get("resolved", {})
    rows = [
        ("validity", "fraction of samples that decode to a molecule"),
        ("uniqueness", "distinct / valid"),
        ("novelty", "distinct valid not in MOSES train"),
        ("FCD/Test", "Fréchet ChemNet Distance to MOSES test (176,074 molecules; lower is closer)"),
        ("SNN/Test", "mean Tanimoto similarity to the nearest MOSES test molecule (Morgan r2, 1024 bits)"),
        ("Frag/Test", "cosine similarity of BRICS fragment counts with MOSES test"),
        ("Scaf/Test", "cosine similarity of Bemis-Murcko scaffold counts (2+ rings) with MOSES test"),
        ("IntDiv", "MOSES IntDiv: 1 - mean Tanimoto over all pairs of valid samples (Morgan r2, 1024 bits)"),
        ("IntDiv2", "MOSES IntDiv2: 1 - mean root-mean-square Tanimoto"),
        ("Filters", "fraction of valid samples passing MOSES' filters (MCF, PAINS, atoms, charges, rings)"),
        ("internal_diversity", "1 - mean pairwise Tanimoto of distinct molecules (Morgan r2, 2048 bits; 2,000)"),
        ("w1_qed", "Wasserstein-1 of QED vs MOSES test"),
        ("w1_sa", "Wasserstein-1 of SA score (1-10) vs test"),
        ("w1_logp", "Wasserstein-1 of logP vs test"),
        ("w1_mw", "Wasserstein-1 of molecular weight vs test"),
    ]
    prior, base, ref = metrics["prior"], metrics["baseline"], metrics.get("test_subsample", {})
    n_ref = int(ref.get("n", 0))
    table = [f"| metric | prior | random tokens | MOSES test ({n_ref} others) | meaning |", "|---|---|---|---|---|"]
    for key, meaning in rows:
        table.append(f"| {key} | {_fmt(prior.get(key))} | {_fmt(base.get(key))} | {_fmt(ref.get(key))} | {meaning} |")
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
    vocab_line = (
        f"{resolved.get('vocab_size')} SELFIES tokens (id 0 = pad `[nop]`), mask id "
        f"{resolved.get('mask_id')}, sequence length {resolved.get('seq_len')}"
    )
    data_line = (
        f"MOSES train split (molsets wheel), {resolved.get('train_molecules')} molecules for "
        f"training, {resolved.get('val_molecules')} held out"
    )
    steps_line = (
        f"{log.get('steps')} (batch {tcfg['batch_size']}, {log.get('epochs', 0):.3f} epochs), wall time "
        f"{log.get('wall_seconds', 0) / 60:.1f} min on {resolved.get('device')} (torch "
        f"{resolved.get('torch')}, {tcfg.get('num_threads')} thread(s)); finished: {log.get('finished')}"
    )
    final_val = _fmt(val[-1]["val_loss"] if val else float("nan"), 4)
    text = f"""# MOSES masked-diffusion prior (SELFIES)

Pretrained prior for SVDD on molecules: an MDLM-style absorbing-state (masked) diffusion
model, `svdd_ray.models.MaskedDiffusion`, over SELFIES tokens of the MOSES train set, with
the bidirectional transformer `svdd_ray.chem.network.SequenceTransformer` as network.

Load it with `model = svdd_ray.chem.train.load_prior("{ckpt_dir}")` (a `MaskedDiffusion`;
`model.decode(x0)` gives canonical SMILES, `model.vocab` is the `SelfiesVocab`). `prior.pt` is a
plain `MaskedDiffusion.state_dict()`: `torch.load(path, weights_only=True)`.

## Model
* vocabulary: {vocab_line}
* parameters: {resolved.get("num_parameters")} ({size_mb:.1f} MB state_dict)
* reverse steps: {config["diffusion"]["num_steps"]}; weights: {weights}

## Training
* data: {data_line}
* steps: {steps_line}
* final validation NELBO (per token, nats): {final_val}

| step | seconds | train loss (NELBO/token) |
|---|---|---|
{chr(10).join(loss_rows)}

## Sample quality ({num_samples} samples, seed {metrics.get("seed")})
{sampling} The baseline decodes uniformly random non-pad tokens with
the train set's length distribution; SELFIES decode almost any token string to a molecule, so
validity alone says little here: compare uniqueness, novelty and the property distances.
The MOSES metrics (Polykovskiy et al. 2020) follow MOSES' definitions: they count every valid
sample, duplicates included; FCD, SNN, Frag and Scaf compare with the statistics of the whole MOSES
test set that ship with MOSES (`test_stats.npz`). Property distances are to
{metrics.get("reference_size")} random MOSES test molecules. The last column scores a disjoint
sample of test molecules the same way (the noise floor); being part of the test set, its SNN is 1
and its FCD, Frag and Scaf are slightly flattering.

{chr(10).join(table)}

Example samples: {", ".join(f"`{s}`" for s in examples)}

## Configuration
```yaml
{cfg_text}```

## Limitations
Small model: it learns MOSES' token statistics only partly; property distributions
are shifted from the data (see the distances above). Meant as the prior for reward-guided
sampling experiments, not as a state-of-the-art generator.
"""
    path = ckpt_dir / "MODEL_CARD.md"
    path.write_text(text)
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
    (ckpt_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    examples = [s for s in samples if s][:8]
    path = write_model_card(ckpt_dir, config, log, metrics, examples, sampling, args.num_samples)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
