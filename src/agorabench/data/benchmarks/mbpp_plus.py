"""MBPP+ (evalplus): sanitized MBPP's problems (378 in v0.2.0) with evalplus' stronger tests, from
`--benchmark-path` (a local file) or the Hub (default `evalplus/mbppplus`, its test split).

Two shapes of evalplus data, told apart per record (see `humaneval_plus`):

- the exported tests (the Hub's evalplus/mbppplus; evalplus' `tools/mbpp/to_original_fmt.py`): `task_id`
  (a number), `prompt` (the task), `code` (the reference solution), `test_imports`, `test_list` (MBPP's
  asserts) and `test`, module-level code with the inputs and expected outputs written in;
- evalplus' own release (`MbppPlus.jsonl.gz`, e.g. v0.2.0): `task_id` ("Mbpp/2"), `prompt` (a docstring:
  the task and its first assert), `entry_point`, `canonical_solution`, `base_input`, `plus_input`, `atol`;
  the inputs are made back into tuples, sets... as `evalplus.data.mbpp.mbpp_deserialize_inputs` does.

Items: `id` ("Mbpp/2"), `text`, `tests` (the asserts shown in the prompt), `setup`, `entry_point`,
`canonical_solution`, `plus` (True), and `test` or `inputs` and `atol`; `timeout_s` when the option sets
one. The prompt is MBPP's (`mbpp.mbpp_prompt`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark
from agorabench.data.benchmarks.humaneval import timeout_option
from agorabench.data.benchmarks.humaneval_plus import plus_fields, read_evalplus_rows
from agorabench.data.benchmarks.mbpp import mbpp_prompt
from agorabench.data.files import local_file
from agorabench.errors import AgorabenchError

MBPP_PLUS_HUB_ID = "evalplus/mbppplus"


def load_mbpp_plus(options: dict[str, Any]) -> BenchmarkData:
    spec = str(options.get("path") or MBPP_PLUS_HUB_ID)
    rows, checksum = read_evalplus_rows(spec, "mbpp_plus")
    extra = timeout_option(options, "mbpp_plus")
    items = []
    for i, rec in enumerate(rows):
        where = f"mbpp_plus: {spec}: record {i}"
        if not isinstance(rec, dict) or "task_id" not in rec:
            raise AgorabenchError(f"{where}: not an object with a task_id")
        number = str(rec["task_id"]).rpartition("/")[2]
        fields = plus_fields(rec, where)
        if "inputs" in fields:  # evalplus' release
            item = _released(rec, where)
            fields["inputs"] = _deserialize(number, rec.get("base_input") or []) + _deserialize(
                number, rec.get("plus_input") or []
            )
        else:
            item = _exported(rec, where)
        items.append({"id": f"Mbpp/{number}", **item, "plus": True, **fields, **extra})
    if not items:
        raise AgorabenchError(f"mbpp_plus: {spec}: no records")
    return BenchmarkData(name="mbpp_plus", items=items, checksum=checksum, source=spec)


def _exported(rec: dict[str, Any], where: str) -> dict[str, Any]:
    text, code, tests = rec.get("prompt"), rec.get("code"), rec.get("test_list")
    if not isinstance(text, str) or not isinstance(code, str) or not isinstance(tests, list) or not tests:
        raise AgorabenchError(f"{where}: needs prompt, code and test_list")
    return {
        "text": text,
        "tests": tests,
        "setup": "\n".join(rec.get("test_imports") or []),
        "entry_point": rec.get("entry_point") or _entry_point(code, tests[0]),
        "canonical_solution": code,
    }


def _released(rec: dict[str, Any], where: str) -> dict[str, Any]:
    prompt, entry, code = rec.get("prompt"), rec.get("entry_point"), rec.get("canonical_solution")
    if not all(isinstance(v, str) and v for v in (prompt, entry, code)):
        raise AgorabenchError(f"{where}: needs prompt, entry_point and canonical_solution")
    lines = [ln for ln in prompt.strip().strip('"').strip().splitlines()]
    tests = [ln.strip() for ln in lines if ln.strip().startswith("assert")]
    text = "\n".join(ln for ln in lines if not ln.strip().startswith("assert")).strip()
    return {"text": text, "tests": tests, "setup": "", "entry_point": entry, "canonical_solution": code}


def _entry_point(code: str, first_test: str) -> str | None:
    """evalplus' rule (tools/mbpp/init_plus.py `get_entry_point`): the reference's function that its
    first assert calls."""
    try:
        defined = [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
        called = {n.id for n in ast.walk(ast.parse(first_test)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return None
    return next((name for name in defined if name in called), None)


# evalplus.data.mbpp.mbpp_deserialize_inputs (evalplus, Apache-2.0): JSON has no tuples, sets or complex
# numbers, so evalplus' release stores these tasks' inputs as lists and strings.
_TUPLES = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
           744, 809}  # fmt: skip
_NESTED_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_NESTED_TUPLES = {75, 413, 444, 753}
_SECOND_TUPLE = {106, 750}
_FIRST_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_DOUBLE_NESTED = {259, 401, 445}
_ALL_TUPLES = {580, 615, 791}


def _all_tuples(x: Any) -> Any:
    return tuple(_all_tuples(i) for i in x) if isinstance(x, list) else x


def _deserialize(number: str, inputs: list) -> list:  # noqa: C901 - one branch per task group, as evalplus
    n = int(number) if number.isdigit() else -1
    if n in _TUPLES:
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if n in _NESTED_TUPLES:
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if n in _FIRST_NESTED_TUPLES:
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if n in _SECOND_TUPLE:
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in _FIRST_TUPLE:
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in _DOUBLE_NESTED:
        nested = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in nested]
    if n == 278:
        firsts = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in firsts]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL_TUPLES:
        return [_all_tuples(inp) for inp in inputs]
    return inputs


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The tasks of a local copy (`options["path"]`); none without one (MBPP+ does not ship offline)."""
    if (path := local_file(options, "mbpp_plus")) is not None:
        yield from (item["text"] for item in load_mbpp_plus({"path": path}).items)


register_benchmark(BenchmarkSpec(
    name="mbpp_plus", domain="code", metric="pass@1",
    description="MBPP+ (evalplus: sanitized MBPP with stronger tests), Hub evalplus/mbppplus or a local file",
    version="1",
    load=load_mbpp_plus,
    prompt=mbpp_prompt,
    grader="mbpp",
    decontamination_texts=decontamination_texts,
    item_score="passed",
    decoding=PAPER_DECODING["code"],
))
