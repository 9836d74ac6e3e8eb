"""SELFIES tokenisation of molecules for the discrete (masked) diffusion prior.

Token ids are ``0 .. V-1`` where ``V = len(vocab)``; id 0 is the pad token
``[nop]``. ``[nop]`` is SELFIES' own no-operation symbol, which the SELFIES
decoder skips, so a pad that a model emits in the middle of a sequence is
harmless. Id ``V`` is reserved for the diffusion model's mask token and is
never produced by :meth:`SelfiesVocab.encode`.

Every sequence has the same length ``seq_len`` (the longest training molecule,
in tokens); shorter molecules are right-padded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import selfies as sf
import torch
from rdkit import Chem, RDLogger

__all__ = ["PAD_TOKEN", "SelfiesVocab", "smiles_to_selfies_tokens", "encoded_moses"]

PAD_TOKEN = "[nop]"
_FORMAT = "svdd_ray.selfies_vocab/1"

RDLogger.DisableLog("rdApp.*")


def smiles_to_selfies_tokens(smiles: str) -> list[str] | None:
    """SELFIES tokens of one SMILES string, or ``None`` if it cannot be encoded."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    try:
        encoded = sf.encoder(smiles.strip(), strict=True)
    except Exception:  # selfies.EncoderError and RDKit-free parse errors
        return None
    if not encoded:
        return None
    return list(sf.split_selfies(encoded))


def _canonical(smiles: str) -> str:
    if not smiles:
        return ""
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumAtoms() == 0:
            return ""
        return Chem.MolToSmiles(mol)
    except Exception:
        return ""


class SelfiesVocab:
    """Fixed SELFIES vocabulary with a pad token at id 0 and a fixed length.

    Args:
        tokens: the tokens in id order; ``tokens[0]`` must be ``"[nop]"``.
        seq_len: length ``L`` of every encoded sequence.
    """

    def __init__(self, tokens: Sequence[str], seq_len: int):
        tokens = list(tokens)
        if not tokens or tokens[0] != PAD_TOKEN:
            raise ValueError(f"tokens[0] must be the pad token {PAD_TOKEN!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        if seq_len < 1:
            raise ValueError("seq_len must be positive")
        self.tokens = tokens
        self.seq_len = int(seq_len)
        self.index = {tok: i for i, tok in enumerate(tokens)}

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> int:
        """Number of real tokens ``V`` (pad included, mask excluded)."""
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def mask_id(self) -> int:
        """Id reserved for the diffusion mask token (``== V``); never emitted."""
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"SelfiesVocab(size={self.size}, seq_len={self.seq_len})"

    def __eq__(self, other) -> bool:
        return isinstance(other, SelfiesVocab) and self.tokens == other.tokens and self.seq_len == other.seq_len

    # -------------------------------------------------------------- building
    @classmethod
    def from_token_lists(cls, token_lists: Iterable[Sequence[str]], seq_len: int | None = None) -> SelfiesVocab:
        """Vocabulary of all tokens seen (sorted by decreasing frequency, then name)."""
        counts: Counter = Counter()
        longest = 0
        for toks in token_lists:
            if toks is None:
                continue
            counts.update(toks)
            longest = max(longest, len(toks))
        counts.pop(PAD_TOKEN, None)
        ordered = sorted(counts, key=lambda tok: (-counts[tok], tok))
        return cls([PAD_TOKEN] + ordered, seq_len if seq_len is not None else max(longest, 1))

    @classmethod
    def build(cls, smiles: Iterable[str], seq_len: int | None = None) -> SelfiesVocab:
        """Vocabulary from SMILES strings (unencodable ones are skipped)."""
        return cls.from_token_lists((smiles_to_selfies_tokens(s) for s in smiles), seq_len=seq_len)

    # ------------------------------------------------------------ (de)coding
    def token_ids(self, tokens: Sequence[str]) -> list[int] | None:
        """Ids of a token list, or ``None`` if too long or a token is unknown."""
        if len(tokens) > self.seq_len:
            return None
        try:
            return [self.index[tok] for tok in tokens]
        except KeyError:
            return None

    def encode(self, smiles_list: Sequence[str], strict: bool = True) -> torch.LongTensor:
        """Encode SMILES to ``LongTensor[n, seq_len]`` of ids in ``0..V-1``.

        With ``strict=True`` (default) a molecule that cannot be encoded (bad
        SMILES, unknown token, longer than ``seq_len``) raises ``ValueError``;
        with ``strict=False`` it becomes an all-pad row.
        """
        if isinstance(smiles_list, str):
            raise TypeError("encode expects a list of SMILES, not a single string")
        out = np.zeros((len(smiles_list), self.seq_len), dtype=np.int64)
        for row, smi in enumerate(smiles_list):
            toks = smiles_to_selfies_tokens(smi)
            ids = self.token_ids(toks) if toks is not None else None
            if ids is None:
                if strict:
                    raise ValueError(
                        f"cannot encode molecule {row} ({smi!r}) with {self!r}: "
                        "invalid SMILES, unknown SELFIES token or too long"
                    )
                continue
            out[row, : len(ids)] = ids
        return torch.from_numpy(out)

    def ids_to_selfies(self, ids: Sequence[int]) -> str | None:
        """SELFIES string of one id row (pads dropped); ``None`` if an id is out of range."""
        parts = []
        V = len(self.tokens)
        for i in ids:
            i = int(i)
            if i < 0 or i >= V:
                return None
            if i != 0:
                parts.append(self.tokens[i])
        return "".join(parts)

    def decode(self, x) -> list[str]:
        """Decode ``LongTensor[n, L]`` (or ``[L]``) to canonical SMILES.

        Pads are ignored. A row that contains an id outside ``0..V-1`` (e.g.
        a left-over mask), that is empty, or that does not give a molecule
        decodes to ``""``. Never raises for bad rows.
        """
        if isinstance(x, torch.Tensor):
            arr = x.detach().cpu().long().numpy()
        else:
            arr = np.asarray(x, dtype=np.int64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"decode expects a 2-D id tensor, got shape {tuple(arr.shape)}")
        out = []
        for row in arr.tolist():
            selfies_str = self.ids_to_selfies(row)
            if not selfies_str:
                out.append("")
                continue
            try:
                smiles = sf.decoder(selfies_str)
            except Exception:
                smiles = None
            out.append(_canonical(smiles) if smiles else "")
        return out

    __call__ = decode

    def lengths(self, x: torch.Tensor) -> torch.LongTensor:
        """Number of non-pad tokens per row."""
        return (x != self.pad_id).sum(dim=-1)

    # ---------------------------------------------------------------- JSON IO
    def to_dict(self) -> dict:
        return {"format": _FORMAT, "pad": PAD_TOKEN, "seq_len": self.seq_len, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> SelfiesVocab:
        if data.get("format") != _FORMAT:
            raise ValueError(f"not a SELFIES vocabulary file (format={data.get('format')!r})")
        return cls(data["tokens"], data["seq_len"])

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path) -> SelfiesVocab:
        return cls.from_dict(json.loads(Path(path).read_text()))


def encoded_moses(
    split: str = "train",
    vocab: SelfiesVocab | None = None,
    limit: int | None = None,
    cache: bool = True,
    progress=None,
) -> tuple[SelfiesVocab, np.ndarray]:
    """Encode a MOSES split to a ``uint8`` id array ``[n, seq_len]``.

    Without ``vocab`` the vocabulary is built from the molecules encoded here
    (use the train split). Molecules that cannot be encoded with a given vocab
    are dropped. Encoding the full train split takes ~6 min on one core, so
    the result is cached under :func:`svdd_ray.chem.data.cache_dir` (keyed by
    split, limit and vocabulary).

    ``progress`` is an optional callable ``(done, total) -> None``.
    """
    import hashlib

    from .data import cache_dir, load_smiles

    vocab_key = "own" if vocab is None else hashlib.sha1(json.dumps(vocab.to_dict()).encode()).hexdigest()[:10]
    cache_file = cache_dir() / f"moses_{split}_{limit or 'all'}_{vocab_key}_selfies.npz"
    if cache and cache_file.is_file():
        data = np.load(cache_file, allow_pickle=False)
        loaded_vocab = SelfiesVocab.from_dict(json.loads(str(data["vocab"])))
        return loaded_vocab, data["ids"]

    smiles = load_smiles(split, limit=limit)
    token_lists = []
    total = len(smiles)
    for i, smi in enumerate(smiles):
        token_lists.append(smiles_to_selfies_tokens(smi))
        if progress is not None and (i + 1) % 50000 == 0:
            progress(i + 1, total)
    if vocab is None:
        vocab = SelfiesVocab.from_token_lists(token_lists)
    rows = []
    for toks in token_lists:
        ids = vocab.token_ids(toks) if toks is not None else None
        if ids is not None:
            rows.append(ids + [0] * (vocab.seq_len - len(ids)))
    dtype = np.uint8 if vocab.size < 256 else np.int16
    ids_arr = np.asarray(rows, dtype=dtype).reshape(len(rows), vocab.seq_len)
    if cache:
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, ids=ids_arr, vocab=np.array(json.dumps(vocab.to_dict())))
        tmp.replace(cache_file)
    return vocab, ids_arr
