"""Tokenisation of molecules for the discrete priors: SELFIES and atom-level SMILES.

Token ids are ``0 .. V-1`` where ``V = len(vocab)``; id 0 is the pad token. In
:class:`SelfiesVocab` it is ``[nop]``, SELFIES' own no-operation symbol, which the SELFIES
decoder skips, so a pad that a model emits in the middle of a sequence is harmless. In
:class:`SmilesVocab` (left-to-right priors) the first pad ends the molecule. Id ``V`` is
reserved for the diffusion model's mask token and is never produced by ``encode``.

Every sequence has the same length ``seq_len`` (the longest training molecule,
in tokens); shorter molecules are right-padded.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import selfies as sf
import torch
from rdkit import Chem, RDLogger

__all__ = [
    "PAD_TOKEN",
    "MoleculeVocab",
    "SelfiesVocab",
    "SmilesVocab",
    "load_vocab",
    "smiles_to_selfies_tokens",
    "smiles_to_tokens",
    "split_smiles",
    "encoded_moses",
]

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


class MoleculeVocab:
    """A fixed token vocabulary for molecules with a pad token at id 0 and a fixed length.

    Subclasses say how a SMILES string becomes tokens (:meth:`tokenize`) and back
    (:meth:`detokenize`). Args: ``tokens`` in id order (``tokens[0]`` the pad token) and
    ``seq_len``, the length ``L`` of every encoded sequence.
    """

    pad_token = PAD_TOKEN
    format = ""
    name = ""
    #: Extra pad ids every sequence has after its last token (SMILES needs one: the end token).
    end_pads = 0

    def __init__(self, tokens: Sequence[str], seq_len: int):
        tokens = list(tokens)
        if not tokens or tokens[0] != self.pad_token:
            raise ValueError(f"tokens[0] must be the pad token {self.pad_token!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        if seq_len < 1:
            raise ValueError("seq_len must be positive")
        self.tokens = tokens
        self.seq_len = int(seq_len)
        self.index = {tok: i for i, tok in enumerate(tokens)}

    @staticmethod
    def tokenize(smiles: str) -> list[str] | None:
        """Tokens of one SMILES string, or ``None`` if it cannot be encoded."""
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str | None:
        """A SMILES string from tokens (pads already removed), or ``None``."""
        raise NotImplementedError

    def _payload(self, ids: list[int]) -> list[int]:
        """The ids that carry the molecule (pads dropped)."""
        return [i for i in ids if i != 0]

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
        return f"{type(self).__name__}(size={self.size}, seq_len={self.seq_len})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.tokens == other.tokens and self.seq_len == other.seq_len

    # -------------------------------------------------------------- building
    @classmethod
    def from_token_lists(cls, token_lists: Iterable[Sequence[str]], seq_len: int | None = None) -> MoleculeVocab:
        """Vocabulary of all tokens seen (sorted by decreasing frequency, then name)."""
        counts: Counter = Counter()
        longest = 0
        for toks in token_lists:
            if toks is None:
                continue
            counts.update(toks)
            longest = max(longest, len(toks))
        counts.pop(cls.pad_token, None)
        ordered = sorted(counts, key=lambda tok: (-counts[tok], tok))
        return cls([cls.pad_token] + ordered, seq_len if seq_len is not None else max(longest + cls.end_pads, 1))

    @classmethod
    def build(cls, smiles: Iterable[str], seq_len: int | None = None) -> MoleculeVocab:
        """Vocabulary from SMILES strings (unencodable ones are skipped)."""
        return cls.from_token_lists((cls.tokenize(s) for s in smiles), seq_len=seq_len)

    # ------------------------------------------------------------ (de)coding
    def token_ids(self, tokens: Sequence[str]) -> list[int] | None:
        """Ids of a token list, or ``None`` if too long or a token is unknown."""
        if len(tokens) + self.end_pads > self.seq_len:
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
            toks = self.tokenize(smi)
            ids = self.token_ids(toks) if toks is not None else None
            if ids is None:
                if strict:
                    raise ValueError(
                        f"cannot encode molecule {row} ({smi!r}) with {self!r}: "
                        "invalid SMILES, unknown token or too long"
                    )
                continue
            out[row, : len(ids)] = ids
        return torch.from_numpy(out)

    def decode(self, x) -> list[str]:
        """Decode ``LongTensor[n, L]`` (or ``[L]``) to canonical SMILES.

        A row that contains an id outside ``0..V-1`` (e.g. a left-over mask)
        where the molecule is read, that is empty, or that does not give a
        molecule decodes to ``""``. Never raises for bad rows.
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
        size = len(self.tokens)
        for row in arr.tolist():
            ids = self._payload(row)
            if not ids or any(i < 0 or i >= size for i in ids):
                out.append("")
                continue
            try:
                smiles = self.detokenize([self.tokens[i] for i in ids])
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
        return {"format": self.format, "pad": self.pad_token, "seq_len": self.seq_len, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> MoleculeVocab:
        if data.get("format") != cls.format:
            raise ValueError(f"not a {cls.__name__} file (format={data.get('format')!r}, expected {cls.format!r})")
        return cls(data["tokens"], data["seq_len"])

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path) -> MoleculeVocab:
        return cls.from_dict(json.loads(Path(path).read_text()))


class SelfiesVocab(MoleculeVocab):
    """SELFIES tokens; the pad ``[nop]`` is SELFIES' no-operation symbol, ignored wherever it stands."""

    format = _FORMAT
    name = "selfies"
    tokenize = staticmethod(smiles_to_selfies_tokens)

    def detokenize(self, tokens: list[str]) -> str | None:
        return sf.decoder("".join(tokens))


#: Atom-level SMILES tokens: bracket atoms, two-letter halogens, two-digit ring closures, single characters.
_SMILES_TOKEN = re.compile(r"\[[^\]]+\]|Br|Cl|%\d{2}|[A-Za-z]|\d|[()=#$:/\\.+\-@*~]")


def split_smiles(text: str) -> list[str]:
    """Atom-level tokens of any SMILES text, a prefix included (characters that are no token are dropped)."""
    return _SMILES_TOKEN.findall(text)


def smiles_to_tokens(smiles: str) -> list[str] | None:
    """Atom-level tokens of one SMILES string (as written), or ``None`` if it does not parse."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    smiles = smiles.strip()
    tokens = split_smiles(smiles)
    if "".join(tokens) != smiles or Chem.MolFromSmiles(smiles) is None:
        return None
    return tokens


class SmilesVocab(MoleculeVocab):
    """Atom-level SMILES tokens read left to right; the first pad ends the molecule.

    Every encoded row keeps at least one pad after its last token (the end token), so a
    left-to-right model learns where molecules stop.
    """

    pad_token = "<end>"
    format = "svdd_ray.smiles_vocab/1"
    name = "smiles"
    end_pads = 1
    tokenize = staticmethod(smiles_to_tokens)

    def detokenize(self, tokens: list[str]) -> str | None:
        return "".join(tokens)

    def _payload(self, ids: list[int]) -> list[int]:
        return ids[: ids.index(0)] if 0 in ids else ids


def load_vocab(path) -> MoleculeVocab:
    """A vocabulary file of any kind (SELFIES or SMILES), by its ``format``."""
    data = json.loads(Path(path).read_text())
    for cls in (SelfiesVocab, SmilesVocab):
        if data.get("format") == cls.format:
            return cls.from_dict(data)
    raise ValueError(f"{path}: not a vocabulary file (format={data.get('format')!r})")


def encoded_moses(
    split: str = "train",
    vocab: MoleculeVocab | None = None,
    limit: int | None = None,
    cache: bool = True,
    progress=None,
    kind: type[MoleculeVocab] = SelfiesVocab,
) -> tuple[MoleculeVocab, np.ndarray]:
    """Encode a MOSES split to a ``uint8`` id array ``[n, seq_len]``.

    Without ``vocab`` a vocabulary of class ``kind`` is built from the molecules
    encoded here (use the train split). Molecules that cannot be encoded with a given vocab
    are dropped. Encoding the full train split takes ~6 min on one core, so
    the result is cached under :func:`svdd_ray.chem.data.cache_dir` (keyed by
    split, limit and vocabulary).

    ``progress`` is an optional callable ``(done, total) -> None``.
    """
    import hashlib

    from .data import cache_dir, load_smiles

    kind = type(vocab) if vocab is not None else kind
    vocab_key = "own" if vocab is None else hashlib.sha1(json.dumps(vocab.to_dict()).encode()).hexdigest()[:10]
    cache_file = cache_dir() / f"moses_{split}_{limit or 'all'}_{vocab_key}_{kind.name}.npz"
    if cache and cache_file.is_file():
        data = np.load(cache_file, allow_pickle=False)
        loaded_vocab = kind.from_dict(json.loads(str(data["vocab"])))
        return loaded_vocab, data["ids"]

    smiles = load_smiles(split, limit=limit)
    token_lists = []
    total = len(smiles)
    for i, smi in enumerate(smiles):
        token_lists.append(kind.tokenize(smi))
        if progress is not None and (i + 1) % 50000 == 0:
            progress(i + 1, total)
    if vocab is None:
        vocab = kind.from_token_lists(token_lists)
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
