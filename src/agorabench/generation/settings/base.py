"""What the nine settings share: prompt templates, output parsing, validation, dedup, decontamination.

A setting is a `Task` for the engine. Subclasses (one per method) say which items exist, what goes
into each prompt, and which fields of the output are the new instruction and response.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from agorabench.generation import validators
from agorabench.generation.decontamination import Decontaminator
from agorabench.generation.dedup import DuplicateIndex
from agorabench.generation.engine import derive_seed
from agorabench.generation.settings.config import SettingConfig
from agorabench.generation.settings.schemas import (
    as_reply,
    field_descriptions,
    output_schema,
    python_fields,
    record_fields,
)
from agorabench.generation.task import Rejected, Task, WorkItem
from agorabench.llm.base import Completion, Message

PROMPTS = Path(__file__).parent / "prompts"
END_MARKER = "[END]"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PROMPTS),
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty hole in a prompt
    keep_trailing_newline=False,
    autoescape=False,
)



def template_name(method: str, domain: str) -> str:
    return f"{method}_{domain}.j2"


def template_digests(method: str, domain: str) -> dict[str, str]:
    """{file: sha256[:16]} of every template a setting renders: its own and each partial it includes or
    imports, recursively. Part of the generation stage's key, so editing one template reruns exactly the
    settings that render it."""
    loader = _ENVIRONMENT.loader
    assert loader is not None
    digests: dict[str, str] = {}
    pending = [template_name(method, domain)]
    while pending:
        name = pending.pop()
        if name in digests:
            continue
        source, _, _ = loader.get_source(_ENVIRONMENT, name)
        digests[name] = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        pending += [ref for ref in jinja2.meta.find_referenced_templates(_ENVIRONMENT.parse(source)) if ref]
    return dict(sorted(digests.items()))


# Section headers the text format asks for, and the looser spellings small models produce.
_SECTION = re.compile(
    r"^[ \t]*(?:\[\s*(instruction|response|tests)\s*\]"  # [Instruction]
    r"|#{1,4}[ \t]*(instruction|response|tests)[ \t]*:?"  # ## Instruction:
    r"|\**(instruction|response|tests)\**[ \t]*:)[ \t]*",  # **Instruction**:
    re.IGNORECASE | re.MULTILINE,
)


def split_sections(text: str) -> dict[str, str]:
    """{"instruction": ..., "response": ..., "tests": ...} from the text layout (first of each kind)."""
    text = text.split(END_MARKER, 1)[0]
    marks = list(_SECTION.finditer(text))
    sections: dict[str, str] = {}
    for i, mark in enumerate(marks):
        name = next(g for g in mark.groups() if g).lower()
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        if name not in sections:
            sections[name] = text[mark.end() : end].strip()
    return sections


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a reply (tolerates a ```json fence and text around it)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise Rejected("json_missing", "no JSON object in the output")
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        raise Rejected("json_invalid", "the output's JSON does not parse") from None
    if not isinstance(value, dict):
        raise Rejected("json_invalid", "the output's JSON is not an object")
    return value


@lru_cache(maxsize=4)
def token_counter(tokenizer: str | None):
    """text -> tokens under `tokenizer` (a Hub id, folder or embedded model), or chars/4 for None."""
    if tokenizer is None:
        return lambda text: len(text) // 4 + 1
    from transformers import AutoTokenizer

    from agorabench.llm.embedded import resolve_local_model

    loaded = AutoTokenizer.from_pretrained(resolve_local_model(tokenizer))
    return lambda text: len(loaded(text, add_special_tokens=False).input_ids)


@lru_cache(maxsize=4)
def _decontaminator(ngram: int, local_paths: tuple[tuple[str, str], ...]) -> Decontaminator:
    return Decontaminator.from_benchmarks(ngram=ngram, local_paths={k: Path(v) for k, v in local_paths})


class SettingTask(Task):
    """One of the nine settings. `method` is set by the subclass."""

    method: str
    # Whether the output carries a new instruction (IG, QE) that must be new and uncontaminated.
    writes_instruction: bool = True
    # QE: a reply that rewrites only the response keeps the input's instruction (recorded as such).
    keeps_instruction_if_absent: bool = False
    # IG: each prompt draws a random theme (and, for general, a first word) from settings/themes.py.
    draws_themes: bool = False
    # RG, QE: one item per seed input, so a run can ask for at most as many instances as there are inputs.
    draws_inputs: bool = False
    # IG: code prompts also ask for tests (assert statements).
    asks_for_tests: bool = False

    @classmethod
    def output_schema(cls, domain: str) -> dict[str, Any]:
        """The JSON schema of this method's replies in `domain` (the JSON format; `schemas.py`)."""
        return output_schema(cls.method, domain, cls.writes_instruction, cls.asks_for_tests and domain == "code")

    @staticmethod
    def is_input(row: dict[str, Any]) -> bool:
        """Whether a seed row can be one of this method's inputs (QE needs a response to improve)."""
        return True

    def __init__(self, config: SettingConfig, seeds: list[dict[str, Any]], n: int | None, seed: int):
        self.config = config
        self.domain = config.domain
        self.seeds = seeds
        self.n = n
        self.run_seed = seed
        self.name = f"{self.method}/{self.domain}"
        self.setting = {"method": self.method, "domain": self.domain}
        self.json_output = config.prompt_format == "json"
        self.template = _ENVIRONMENT.get_template(template_name(self.method, self.domain))
        self.stop = () if self.json_output else (END_MARKER,)
        # The JSON format's replies must match this schema; every request carries it (structured output).
        self.json_schema = self.output_schema(self.domain) if self.json_output else None
        self.python_fields = python_fields(self.json_schema) if self.json_schema is not None else None
        validation = config.validation
        self.decontaminator = (
            _decontaminator(
                validation.decontamination_ngram,
                tuple(sorted((k, str(v)) for k, v in validation.benchmark_paths.items())),
            )
            if validation.decontaminate
            else None
        )
        self.duplicates = DuplicateIndex(threshold=validation.near_duplicate_threshold)
        self.report_counts: Counter[str] = Counter()
        # What each item's latest prompt was built from, for its record (one worker per item at a time).
        self._prompt_context: dict[str, dict[str, Any]] = {}

    # --- prompts ------------------------------------------------------------------------------------

    def render(self, **context: Any) -> list[Message]:
        context.setdefault("with_tests", False)
        fields = field_descriptions(self.json_schema) if self.json_schema is not None else {}
        text = self.template.render(json_output=self.json_output, json_fields=fields, **context).strip()
        return [Message(role="user", content=text)]

    def reply_json(self, row: dict[str, Any]) -> str:
        """A demonstration or input pair as the JSON object the JSON format's reply must be."""
        return json.dumps(as_reply(row, self.json_schema or self.output_schema(self.domain)), ensure_ascii=False)

    # --- outputs ------------------------------------------------------------------------------------

    def extract(self, text: str) -> dict[str, str]:
        """The output's fields: instruction/response (IG, QE) or response (RG); tests when present."""
        if self.json_output:
            return record_fields(parse_json_object(text), self.domain)
        sections = split_sections(text)
        if not self.writes_instruction or (self.keeps_instruction_if_absent and "instruction" not in sections):
            # The whole reply is the response when it has no section headers at all.
            body = sections.get("response") if sections else text.split(END_MARKER, 1)[0]
            if body is None:
                raise Rejected("format", "missing [Response] section")
            return {"response": body.strip()}
        if "instruction" not in sections or "response" not in sections:
            raise Rejected("format", "missing [Instruction] or [Response] section")
        return sections

    def validate(self, instruction: str, response: str, tests: str | None, new_instruction: bool = True) -> list[str]:
        """Run every check; raise Rejected on the first failure; return the names of the checks passed."""
        passed = []
        validators.check_placeholders(instruction + "\n" + response, stop_phrases=(END_MARKER,))
        passed.append("no_placeholder")
        validators.check_non_empty(instruction, response)
        passed.append("non_empty")
        validators.check_refusal(response)
        passed.append("no_refusal")
        if self.domain == "math":
            validators.check_math(response)
            passed.append("math_result_block")
        elif self.domain == "code":
            validators.check_code(response, self.config.validation.code_max_prose_chars)
            passed.append("code_fenced_and_parses")
            if tests:
                validators.check_python_tests(tests)
                passed.append("tests_parse")  # run in the sandbox once it exists (evaluation issue)
        count = token_counter(self.config.validation.tokenizer)
        validators.check_token_budget(instruction, response, count, self.config.validation.token_budget)
        passed.append("token_budget")
        if self.writes_instruction and new_instruction:
            if (found := self.duplicates.find(instruction)) is not None:
                kind, match = found
                raise Rejected(kind, f"instruction duplicates {match}")
            passed.append("not_duplicate")
            if self.decontaminator is not None and (benchmark := self.decontaminator.match(instruction)):
                raise Rejected("contaminated", f"instruction overlaps a {benchmark} test item")
            if self.decontaminator is not None:
                passed.append("decontaminated")
        return passed

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        self.check(completion)
        fields = self.extract(completion.text)
        rewrote = "instruction" in fields
        instruction = fields["instruction"] if rewrote else item.payload.get("instruction", "")
        if self.writes_instruction and not rewrote and not self.keeps_instruction_if_absent:
            raise Rejected("format", "no instruction in the output")
        response = fields.get("response", "")
        tests = fields.get("tests") or None
        # A kept QE instruction was screened (duplicates, benchmarks) as an input already.
        passed = self.validate(instruction, response, tests, new_instruction=rewrote)
        record = {
            "instruction": instruction,
            "response": response,
            **self._prompt_context.get(item.id, {}),
            "prompt_format": self.config.prompt_format,
            "validation": {"passed": passed},
        }
        if tests:
            record["tests"] = tests
        if self.keeps_instruction_if_absent:
            record["instruction_rewritten"] = rewrote
        return record

    def accept(self, item: WorkItem, record: dict[str, Any]) -> None:
        if self.writes_instruction:
            self.duplicates.add(item.id, record["instruction"])

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Records already on disk from an earlier run of this folder: they count as accepted."""
        for record in records:
            self.accept(WorkItem(id=record["id"]), record)

    # --- seeds --------------------------------------------------------------------------------------

    def usable_inputs(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Inputs minus duplicates and benchmark-contaminated ones, each drop counted. With more rows than
        the `n` wanted, `n` of them drawn without replacement (seeded by the run seed: a rerun draws the
        same), screening only as many as it takes, so a 300K-row source costs what `n` rows cost."""
        if self.n is not None and len(rows) > self.n:
            rows = list(rows)
            random.Random(derive_seed(self.run_seed, f"inputs/{self.name}", 0)).shuffle(rows)
        kept, index = [], DuplicateIndex(threshold=self.config.validation.near_duplicate_threshold)
        for row in rows:
            if self.n is not None and len(kept) >= self.n:
                break
            text = row["instruction"]
            if self.decontaminator is not None and self.decontaminator.match(text):
                self.report_counts["inputs_dropped_contaminated"] += 1
                continue
            if index.find(text) is not None:
                self.report_counts["inputs_dropped_duplicate"] += 1
                continue
            index.add(row["id"], text)
            kept.append(row)
        return kept

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "setting": self.setting,
            "prompt_format": self.config.prompt_format,
            "seeds": [s.model_dump(mode="json") for s in self.config.seeds],
        }

    def report(self) -> dict[str, Any]:
        return {"seed_rows": len(self.seeds), **self.report_counts}
