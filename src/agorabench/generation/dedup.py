"""Exact and near-duplicate detection for instructions.

Exact: instructions equal after normalisation (case, punctuation, whitespace). Near: estimated
Jaccard similarity of word 3-gram shingles at or above a threshold, found with MinHash LSH
(`datasketch`), so checking one instruction against tens of thousands costs the same as against ten.
"""

from __future__ import annotations

import hashlib
import re

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, size: int = 3) -> set[str]:
    words = normalise(text).split()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


class DuplicateIndex:
    """Instructions seen so far (seeds and accepted outputs); says whether a new one duplicates one."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 64):
        self.threshold = threshold
        self.num_perm = num_perm
        self._exact: dict[str, str] = {}
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._shingles: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._exact)

    def _minhash(self, grams: set[str]) -> MinHash:
        signature = MinHash(num_perm=self.num_perm, seed=1)
        signature.update_batch([g.encode() for g in grams])
        return signature

    def find(self, text: str) -> tuple[str, str] | None:
        """(kind, id of the match) where kind is "duplicate" or "near_duplicate"; None if new."""
        key = normalise(text)
        if key in self._exact:
            return "duplicate", self._exact[key]
        grams = shingles(text)
        for candidate in self._lsh.query(self._minhash(grams)):
            other = self._shingles[candidate]
            # LSH proposes; the exact Jaccard decides, so the threshold means what it says.
            if len(grams & other) / len(grams | other) >= self.threshold:
                return "near_duplicate", candidate
        return None

    def add(self, item_id: str, text: str) -> None:
        key = normalise(text)
        if key in self._exact:
            return
        self._exact[key] = item_id
        grams = shingles(text)
        # LSH keys must be unique; item ids are, but guard against a caller reusing one.
        suffix = hashlib.sha1(key.encode()).hexdigest()[:8]
        lsh_key = item_id if item_id not in self._shingles else f"{item_id}#{suffix}"
        self._shingles[lsh_key] = grams
        self._lsh.insert(lsh_key, self._minhash(grams))
