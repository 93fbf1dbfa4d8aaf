"""The JSON format's output schemas: which fields each setting's reply fills, and how those fields become
the record's instruction and response, exactly as the text format's parse gives them.

The schema goes with every request of a JSON-format setting (`SamplingParams.json_schema`) and each backend
enforces it (`llm/`). It stays within what every backend takes: every property required, no other
properties, strings only, no length or pattern limits. The reply's fields are the parts a model writes
most reliably apart; the record is then built as the validators expect it:

- math: `response` (the worked solution) + `final_answer` -> response ending in `[RESULT] answer [/RESULT]`;
- code: `code` (bare Python) -> a response of one ```python fenced block; instance generation adds `tests`
  (assert statements, possibly empty);
- general: `response` as written.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from typing import Any

from agorabench.generation.validators import RESULT_BLOCK, code_blocks, final_answer

# What the instruction is called in each domain's prompts.
_NOUN = {"math": "problem", "code": "task", "general": "instruction"}
_ADJECTIVE = {"instance_generation": "new", "quality_enhancement": "improved"}


def output_schema(method: str, domain: str, writes_instruction: bool, with_tests: bool) -> dict[str, Any]:
    """The JSON schema of a setting's reply (its `title` names it where an API wants a name)."""
    noun = _NOUN.get(domain, "instruction")
    fields: dict[str, str] = {}
    if writes_instruction:
        fields["instruction"] = f"the {_ADJECTIVE.get(method, 'new')} {noun}, complete and self-contained"
    if domain == "math":
        fields["response"] = "the worked solution, step by step (its final answer also goes in final_answer)"
        fields["final_answer"] = "the final answer alone: a number or an exact expression, e.g. 42 or 3/4"
    elif domain == "code":
        fields["code"] = "the complete Python code, without ``` fences; explanations only as code comments"
        if with_tests:
            fields["tests"] = "a few Python assert statements that check the code, or an empty string"
    else:
        fields["response"] = "the response"
    if method == "quality_enhancement" and domain == "code":
        # The code first, then the task restated: a small model that writes the instruction first mostly loses
        # the code (the embedded SmolLM2: 0 of 8 replies parsed; code first: 5 of 13, 2+2+1 records in 3 runs).
        fields = {"code": fields.pop("code"), **fields}
    return {
        "title": f"{method}_{domain}",
        "type": "object",
        "properties": {name: {"type": "string", "description": text} for name, text in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }


# The fields that hold Python: sent as `SamplingParams.python_fields`, so that the local backend's grammar
# makes their code parse (the code validators reject what does not).
PYTHON_FIELDS = ("code", "tests")


def python_fields(schema: dict[str, Any]) -> tuple[str, ...] | None:
    """The schema's fields that hold Python code, or None."""
    return tuple(name for name in schema["properties"] if name in PYTHON_FIELDS) or None


def field_descriptions(schema: dict[str, Any]) -> dict[str, str]:
    """{field: description} in the schema's order, for the prompt that asks for them."""
    return {name: spec.get("description", "") for name, spec in schema["properties"].items()}


def schema_digest(schema: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def record_fields(data: dict[str, Any], domain: str) -> dict[str, str]:
    """instruction / response / tests of a JSON reply, as the text format would give them. Also reads a
    reply that wrote `response` in the text format's form (fenced code, a [RESULT] block), as a model
    asked for JSON without a schema may."""
    fields = {k: v.strip() for k in ("instruction", "response", "tests") if isinstance(v := data.get(k), str)}
    code = data.get("code")
    if "response" not in fields and isinstance(code, str) and code.strip():
        fields["response"] = fenced(code)
    answer = data.get("final_answer")
    if domain == "math" and isinstance(answer, str) and answer.strip():
        solution = fields.get("response", "")
        if not RESULT_BLOCK.search(solution):
            fields["response"] = f"{solution}\n[RESULT] {answer.strip()} [/RESULT]".strip()
    return fields


def as_reply(row: dict[str, Any], schema: dict[str, Any]) -> dict[str, str]:
    """A demonstration or an input pair (instruction, response in the text format's form, tests) as the JSON
    object a reply must be: the inverse of `record_fields`, so that a prompt shows the shape it asks for."""
    response = row.get("response") or ""
    tests = row.get("tests") or ""
    values = {
        "instruction": row.get("instruction") or "",
        "response": RESULT_BLOCK.sub("", response).rstrip() if "final_answer" in schema["properties"] else response,
        "final_answer": final_answer(response) or "",
        "code": "\n\n".join(code for _, code in code_blocks(response)).strip("\n") or response,
        "tests": "\n".join(tests) if isinstance(tests, list) else str(tests),
    }
    return {name: values.get(name, "") for name in schema["properties"]}


def fenced(code: str) -> str:
    """Bare code in one ```python block (code already fenced stays as it is)."""
    code = textwrap.dedent(code).strip("\n").rstrip()
    if code.startswith("```"):
        return code
    return f"```python\n{code}\n```"
