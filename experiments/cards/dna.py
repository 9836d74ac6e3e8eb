"""Evaluate the DNA prior and write its ``MODEL_CARD.md`` (and the numbers, ``model_card.json``).

    python -m experiments.cards.dna [--ckpt-dir checkpoints/dna/prior] [--samples 512] [--steps 50]
    python -m experiments.cards.dna --from-json    # the card again from model_card.json, no sampling

Every naturalness metric is shown beside its natural reference (validation rows, chr2, against the
test rows, chr1) and a floor (i.i.d. letters with the training base composition). Also: the per-base
NLL of the test rows under the prior (its NELBO, an upper bound), under a 5th-order Markov chain
fitted on the training rows, and under the i.i.d. composition.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from svdd_ray.dna import data, metrics
from svdd_ray.dna.prior import default_checkpoint_dir, load_prior

__all__ = ["evaluate_prior", "render", "write_card", "main"]

ROWS = ("prior samples", "natural (validation vs test)", "floor (i.i.d., training composition)")


def _sample(model, n: int, seed: int, batch: int = 128) -> np.ndarray:
    from svdd_ray.samplers import final_states

    generator = torch.Generator(device=model.device).manual_seed(seed)
    parts = [final_states(model, min(batch, n - i), generator).cpu().numpy() for i in range(0, n, batch)]
    return np.concatenate(parts).astype(np.uint8)


def evaluate_prior(ckpt_dir: Path, samples: int = 512, steps: int = 50, seed: int = 0) -> dict:
    """The model card's numbers: naturalness rows, NLLs, sampling time."""
    torch.manual_seed(seed)
    model = load_prior(ckpt_dir, num_steps=steps)
    train, val, test = (data.load_sites(s).tokens for s in data.SPLITS)
    composition = np.bincount(train.ravel(), minlength=4) / train.size
    began = time.perf_counter()
    generated = _sample(model, samples, seed)
    sample_seconds = time.perf_counter() - began
    sets = {
        ROWS[0]: generated,
        ROWS[1]: val[np.random.default_rng(seed).permutation(len(val))[:samples]],
        ROWS[2]: metrics.iid_tokens(samples, data.SEQ_LEN, composition, seed),
    }
    table = {name: metrics.evaluate(tokens, reference=test) for name, tokens in sets.items()}
    entropy = float(-(composition * np.log(composition)).sum())
    nll = {
        "prior NELBO": metrics.prior_nll(model, test, draws=4, seed=seed),
        "5th-order Markov chain (training rows)": metrics.markov_nll(train, test, order=5),
        "i.i.d. training composition": entropy,
        "uniform letters": math.log(4),
    }
    log_path = Path(ckpt_dir) / "train_log.json"
    train_log = json.loads(log_path.read_text()) if log_path.is_file() else {}
    return {
        "table": table,
        "nll": nll,
        "samples": samples,
        "steps": steps,
        "sample_seconds": sample_seconds,
        "examples": data.decode(generated[:3]),
        "train": {k: train_log.get(k) for k in ("steps", "wall_seconds", "epochs", "finished")},
        "val_loss": (train_log.get("val_curve") or [{}])[-1].get("val_loss"),
        "config": model.train_config,
    }


def _fmt(value, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def render(result: dict) -> str:
    """:func:`evaluate_prior`'s numbers as the Markdown card."""
    cfg, resolved = result["config"], result["config"].get("resolved", {})
    columns = [
        ("kmer3_r", "3-mer r"),
        ("kmer6_r", "6-mer r"),
        ("motif_rho", "JASPAR motif-frequency Spearman"),
        ("diversity", "diversity"),
        ("longest_homopolymer", "longest homopolymer"),
        ("gc", "GC"),
        ("uniqueness", "uniqueness"),
    ]
    lines = [
        "# Model card: DNA prior (masked discrete diffusion over ACGT, 200 bp)",
        "",
        "Unconditional prior of regulatory DNA: 200-bp DNase-hypersensitive sites of HepG2, K562, GM12878 and "
        "hESC from the `dnadiffusion` wheel (MIT), `training` rows (every chromosome but 1 and 2) plus their "
        "reverse complements. Validation NELBO on chr2; the test rows (chr1) are used only here.",
        "",
        f"- Network: SequenceTransformer, d_model {cfg['network']['d_model']}, {cfg['network']['layers']} layers, "
        f"{resolved.get('num_parameters', '?'):,} parameters; MDLM loss, log-linear schedule.",
        f"- Training: {result['train'].get('steps')} steps of batch {cfg['train']['batch_size']} "
        f"({_fmt(result['train'].get('epochs'), 2)} epochs over {resolved.get('train_rows', '?')} rows), "
        f"{_fmt((result['train'].get('wall_seconds') or 0) / 60, 1)} min on {resolved.get('device', '?')}; "
        f"validation NELBO {_fmt(result['val_loss'], 4)} nats/base.",
        "- Reproduce: `python jobs/train_prior.py --config configs/prior_dna.yaml` (continue a stopped run with "
        "`--set train.resume=true`); this card: `python -m experiments.cards.dna`.",
        "",
        f"## Naturalness ({result['samples']} sequences per row, {result['steps']} reverse steps; "
        "references: the test rows, chr1)",
        "",
        "| set | " + " | ".join(title for _, title in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, row in result["table"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(key)) for key, _ in columns) + " |")
    lines += [
        "",
        "## Per-base NLL of the test rows (nats; lower is better)",
        "",
        "| model | NLL |",
        "|---|---|",
        *[f"| {name} | {_fmt(value, 4)} |" for name, value in result["nll"].items()],
        "",
        f"Sampling: {result['samples']} sequences in {result['sample_seconds']:.0f} s on this machine's CPU.",
        "",
        "Examples:",
        "",
        *[f"    {s}" for s in result["examples"]],
        "",
    ]
    return "\n".join(lines)


def write_card(result: dict, path: Path) -> Path:
    """Write :func:`render` of ``result`` at ``path``."""
    path.write_text(render(result))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the DNA prior and write its MODEL_CARD.md")
    parser.add_argument("--ckpt-dir", type=Path, default=default_checkpoint_dir())
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-json", action="store_true", help="render the saved model_card.json, sample nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    numbers = args.ckpt_dir / "model_card.json"
    if args.from_json:
        result = json.loads(numbers.read_text())
    else:
        result = evaluate_prior(args.ckpt_dir, args.samples, args.steps, args.seed)
        numbers.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {write_card(result, args.ckpt_dir / 'MODEL_CARD.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
