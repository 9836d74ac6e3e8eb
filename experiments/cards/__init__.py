"""Model cards: the Markdown beside each committed checkpoint, written from the numbers the library returns.

* :mod:`experiments.cards.images`: ``checkpoints/digits/MODEL_CARD.md`` (from ``config.yaml`` and ``metrics.json``).
* :mod:`experiments.cards.chem`: ``checkpoints/moses*/MODEL_CARD.md`` (samples the prior, MOSES metrics).
* :mod:`experiments.cards.dna`: ``checkpoints/dna/prior/MODEL_CARD.md`` (naturalness and NLL of the prior).
* :mod:`experiments.cards.dna_classifiers`: ``checkpoints/dna/CLASSIFIERS.md`` (guide and oracle on chr1).

:func:`after_training` is what ``jobs/train_prior.py`` calls once a prior is trained.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["after_training"]

#: domain -> how to write its card when training does not (the evaluation is a separate, longer step).
LATER = {
    "molecules": "python -m experiments.cards.chem --ckpt-dir {out}",
    "dna": "python -m experiments.cards.dna --ckpt-dir {out}",
}


def after_training(domain: str, out_dir: str | Path, result: dict | None) -> str:
    """Write the card of a freshly trained ``domain`` prior where its numbers are in ``result``; say what happened."""
    out = Path(out_dir)
    if domain == "digits" and result and "quality" in result:
        from experiments.cards.images import write_card

        return f"wrote {write_card(out)}"
    if domain in LATER and result and result.get("finished", True):
        return "the model card: " + LATER[domain].format(out=out)
    return ""
