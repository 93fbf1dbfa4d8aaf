"""HumanEval+ (evalplus): HumanEval's 164 problems with evalplus' stronger tests, from `--benchmark-path`
(a local file) or the Hub (default `evalplus/humanevalplus`, its test split).

Two shapes of evalplus data are read, JSONL (gzipped or not) or JSON, told apart per record:

- the exported tests (the Hub's evalplus/humanevalplus; evalplus' `tools/humaneval/to_original_fmt.py`):
  `task_id`, `prompt`, `entry_point`, `canonical_solution` and `test`, a `check(candidate)` function with
  the inputs and expected outputs written in;
- evalplus' own release (`HumanEvalPlus.jsonl.gz`, e.g. v0.1.10, as `evalplus.evaluate` downloads it):
  `task_id`, `prompt`, `entry_point`, `canonical_solution`, `base_input`, `plus_input`, `atol` (its
  `test` is HumanEval's original one and is not used): the grader computes the expected outputs with the
  reference solution and writes the test itself.

Items: `id` (= `task_id`), `prompt`, `entry_point`, `canonical_solution`, `plus` (True), and `test` or
`inputs` (base_input + plus_input) and `atol`; `timeout_s` when the option sets one (by default the
grader gives each problem evalplus' limit, max(4 s, 4 x the reference solution's time)).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark
from agorabench.data.benchmarks.humaneval import (
    HUMANEVAL_DATA,
    HUMANEVAL_PACKAGE,
    humaneval_prompt,
    load_humaneval,
    timeout_option,
)
from agorabench.data.files import file_sha256, hub_error, json_rows, local_file, read_bytes
from agorabench.data.hub import hub_reachable
from agorabench.errors import AgorabenchError
from agorabench.io import package_file

HUMANEVAL_PLUS_HUB_ID = "evalplus/humanevalplus"
_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution")
# evalplus' exporter writes HumanEval/32's oracle with its arguments swapped (`_poly(*candidate(*inp), inp)`
# unpacks a float): every answer, the reference included, fails it. This is evalplus' own evaluation's
# oracle for the task (`abs(_poly(*inp, out)) <= atol`, evalplus/eval/__init__.py).
_BROKEN_FIND_ZERO = "assert _poly(*candidate(*inp), inp) <= "
_FIXED_FIND_ZERO = "assert abs(_poly(*inp, candidate(*inp))) <= "


def read_evalplus_rows(spec: str, what: str) -> tuple[list[dict[str, Any]], str]:
    """The records of a local evalplus file (.jsonl, .jsonl.gz, .json) or of a Hub dataset id
    (`ID[:CONFIG]`, the test split), and a checksum."""
    local = Path(spec).expanduser()
    looks_local = spec.startswith(("/", ".", "~")) or spec.endswith((".jsonl", ".json", ".gz"))
    if local.exists() or looks_local:
        raw = read_bytes(local, what)  # a missing file: "data not found"
        if local.suffix == ".gz":
            try:
                text = gzip.decompress(raw).decode("utf-8")
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
                raise AgorabenchError(f"{what} data {local}: cannot read ({exc})") from None
        else:
            rows = json_rows(raw, local, what)
        return rows, file_sha256(local)
    hub_reachable()  # offline: fail at once (or read the local cache) instead of retrying for minutes
    import datasets

    hub_id, _, config = spec.partition(":")
    try:
        dataset = datasets.load_dataset(hub_id, config or None, split="test")
    except Exception as exc:  # noqa: BLE001 - offline, missing: one line for the user
        raise AgorabenchError(f"{what}: cannot load {spec!r} ({hub_error(exc)}); pass --benchmark-path FILE") from None
    return list(dataset), dataset._fingerprint


def plus_fields(rec: dict[str, Any], where: str) -> dict[str, Any]:
    """The test of an evalplus record: `test` (exported), or `inputs` and `atol` (evalplus' release)."""
    if "plus_input" in rec or "base_input" in rec:
        base, plus = rec.get("base_input") or [], rec.get("plus_input") or []
        if not isinstance(base, list) or not isinstance(plus, list) or not base + plus:
            raise AgorabenchError(f"{where}: base_input and plus_input must be lists of inputs")
        return {"inputs": base + plus, "atol": rec.get("atol") or 0}
    if not isinstance(rec.get("test"), str) or not rec["test"].strip():
        raise AgorabenchError(f"{where}: needs `test` (exported tests) or base_input/plus_input (evalplus' release)")
    return {"test": rec["test"]}


def load_humaneval_plus(options: dict[str, Any]) -> BenchmarkData:
    spec = str(options.get("path") or HUMANEVAL_PLUS_HUB_ID)
    rows, checksum = read_evalplus_rows(spec, "humaneval_plus")
    extra = timeout_option(options, "humaneval_plus")
    items = []
    for i, rec in enumerate(rows):
        where = f"humaneval_plus: {spec}: record {i}"
        if not isinstance(rec, dict):
            raise AgorabenchError(f"{where} is not an object")
        missing = [k for k in _FIELDS if not isinstance(rec.get(k), str) or not rec.get(k)]
        if missing:
            raise AgorabenchError(f"{where} lacks {missing}")
        fields = plus_fields(rec, where)
        if "test" in fields and rec["entry_point"] == "find_zero":
            fields["test"] = fields["test"].replace(_BROKEN_FIND_ZERO, _FIXED_FIND_ZERO)
        item = {k: rec[k] for k in _FIELDS}
        items.append({**item, "id": rec["task_id"], "plus": True, **fields, **extra})
    if not items:
        raise AgorabenchError(f"humaneval_plus: {spec}: no records")
    return BenchmarkData(name="humaneval_plus", items=items, checksum=checksum, source=spec)


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The prompts of a local copy (`options["path"]`), else HumanEval's (the same problems) from the
    installed package; never the Hub."""
    if (path := local_file(options, "humaneval_plus")) is not None:
        yield from (item["prompt"] for item in load_humaneval_plus({"path": path}).items)
    elif package_file(HUMANEVAL_PACKAGE, *HUMANEVAL_DATA) is not None:
        yield from (item["prompt"] for item in load_humaneval().items)


register_benchmark(BenchmarkSpec(
    name="humaneval_plus", domain="code", metric="pass@1",
    description="HumanEval+ (evalplus: HumanEval with stronger tests), Hub evalplus/humanevalplus or a local file",
    version="1",
    load=load_humaneval_plus,
    prompt=humaneval_prompt,
    grader="humaneval",
    decontamination_texts=decontamination_texts,
    item_score="passed",
    decoding=PAPER_DECODING["code"],
))
