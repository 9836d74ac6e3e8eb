"""The DNA domain: 200-letter ``ACGT`` strings, a sequence logo of the top designs, naturalness vs HepG2 sites."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svdd_ray.domains import TextDomain

#: Letter colours of the logo (A, C, G, T), the usual ones.
COLOURS = ("#109648", "#255C99", "#F7B32B", "#D62839")


class DnaDomain(TextDomain):
    """``ACGT`` strings: shown as text, drawn as a sequence logo, judged against natural HepG2 sites.

    The reference set is the HepG2-specific sites of the test chromosome (chr1): 3-mer and 6-mer
    spectrum correlations and the JASPAR motif-frequency Spearman correlation are computed against it.
    Every run of 200-letter designs is also judged, reference set or not, by the held-out evaluation
    oracle (reward ``hepg2_oracle``, never used for guidance: ``oracle_median``, ``oracle_p90``) and by
    the per-base NLL under the committed prior (``prior_nll``: its NELBO in nats, an upper bound).
    """

    name = "dna"

    def sample_grid(self, objects: Sequence[str], path: Path, labels: Sequence[str]) -> Path | None:
        """A sequence logo (information content per position) of ``objects``, their rewards in the title."""
        from svdd_ray.dna.data import encode

        if not objects:
            return None
        tokens = encode(list(objects), length=None, field="dna objects")
        return sequence_logo(tokens, path, f"{len(objects)} top designs (reward {labels[-1]} .. {labels[0]})")

    def metrics(self, objects: Sequence[str], reference: np.ndarray | None = None) -> dict[str, float]:
        """GC, longest homopolymer, diversity, uniqueness; for 200-letter designs the held-out oracle's median
        and 90th percentile and the NLL under the prior (:func:`judged`); given the reference, k-mer and motif
        correlations."""
        from svdd_ray.dna.data import SEQ_LEN, encode
        from svdd_ray.dna.metrics import evaluate

        valid = [s for s in objects if isinstance(s, str) and len(s) == len(objects[0])]
        if not valid:
            return {}
        tokens = encode(valid, length=None, field="dna objects")
        out = evaluate(tokens, reference)
        del out["n"]
        if tokens.shape[1] == SEQ_LEN:
            out.update(judged(valid, tokens))
        return out

    def reference(self) -> np.ndarray | None:
        """Tokens of the HepG2-specific test-chromosome sites; None without the dnadiffusion wheel."""
        from svdd_ray.dna.data import load_sites
        from svdd_ray.errors import ConfigError

        try:
            test = load_sites("test")
        except ConfigError:
            return None
        return test.tokens[test.cell == 0]


#: Noise draws per design of the prior's NELBO in reports (experiments/dna_results.py uses the same).
NLL_DRAWS = 2


@functools.lru_cache(maxsize=2)
def _judges(checkpoints: str | None):
    """The evaluation oracle and the committed prior (``checkpoints``: ``$SVDD_RAY_DNA_CHECKPOINTS``), loaded once."""
    from svdd_ray.dna.prior import load_prior
    from svdd_ray.dna.rewards import HepG2Oracle

    return HepG2Oracle(), load_prior()


_MISSING_NOTED: set[str] = set()


def judged(sequences: Sequence[str], tokens: np.ndarray) -> dict[str, float]:
    """``oracle_median`` / ``oracle_p90``: the ``hepg2_oracle`` reward of 200-letter ``sequences`` (HepG2
    specificity under the held-out oracle, never used for guidance); ``prior_nll``: their mean per-base NELBO
    in nats under the committed prior (``checkpoints/dna/prior``; an upper bound on the NLL, ``log 4 = 1.386``
    for a uniform model). Without the checkpoints: ``{}`` and one line on stderr, once."""
    from svdd_ray.dna.metrics import prior_nll
    from svdd_ray.errors import ConfigError

    try:
        oracle, prior = _judges(os.environ.get("SVDD_RAY_DNA_CHECKPOINTS"))
    except (FileNotFoundError, ConfigError) as err:
        if str(err) not in _MISSING_NOTED:
            _MISSING_NOTED.add(str(err))
            print(f"dna report: no oracle_median / prior_nll columns: {err}", file=sys.stderr)
        return {}
    scores = np.asarray(oracle(list(sequences)), dtype=float)
    return {
        "oracle_median": float(np.median(scores)),
        "oracle_p90": float(np.quantile(scores, 0.9)),
        "prior_nll": prior_nll(prior, tokens, draws=NLL_DRAWS),
    }


def sequence_logo(tokens: np.ndarray, path: Path, title: str = "") -> Path:
    """Draw a stacked-bar sequence logo of ``[n, L]`` tokens (bits per position, letters by frequency) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.stack([(tokens == letter).sum(axis=0) for letter in range(4)]).astype(np.float64)
    freq = counts / counts.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(freq > 0, freq * np.log2(freq), 0.0), axis=0)
    heights = freq * (2.0 - entropy)
    positions = np.arange(tokens.shape[1])
    fig, ax = plt.subplots(figsize=(12, 2.4))
    bottom = np.zeros(tokens.shape[1])
    for letter, name in enumerate("ACGT"):
        ax.bar(positions, heights[letter], bottom=bottom, width=1.0, color=COLOURS[letter], label=name)
        bottom += heights[letter]
    ax.set_xlim(-0.5, tokens.shape[1] - 0.5)
    ax.set_ylim(0, 2)
    ax.set_xlabel("position (bp)")
    ax.set_ylabel("bits")
    ax.set_title(title, fontsize=9)
    ax.legend(ncol=4, fontsize=7, loc="upper right", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
