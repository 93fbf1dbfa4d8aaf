"""Seed data for the nine settings: bundled offline sets, and the paper's sources by Hub id or path.

A seed row is a dict with at least `id` and `instruction`; IG demonstrations and QE inputs also have
`response`. Each paper source has a field mapping from its own schema:

- gsm8k (math IG), `openai/gsm8k` config main: question -> instruction; the answer's "#### x" ->
  [RESULT] x [/RESULT];
- math (math IG), `EleutherAI/hendrycks_math`: problem -> instruction; the solution's last \\boxed{x} ->
  [RESULT] x [/RESULT];
- mbpp (code IG), `google-research-datasets/mbpp`: text -> instruction; code -> fenced response;
  test_list -> tests;
- lima (general IG), `GAIR/lima`: conversations[0] -> instruction; conversations[1] -> response;
- magpie (RG, per domain), `Magpie-Align/Magpie-Pro-300K-Filtered`: first human turn -> instruction;
  task_category picks the domain;
- webinstruct (math and general QE), `TIGER-Lab/WebInstructSub`: question -> instruction; answer -> response;
- conala (code QE), `neulab/conala`: rewritten_intent (or intent) -> instruction; snippet -> fenced response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from agorabench.data.hub import hub_reachable, offline_hint
from agorabench.data.latex import last_boxed
from agorabench.errors import AgorabenchError
from agorabench.io import StrictModel
from agorabench.jsonl import read_jsonl

BUNDLED = Path(__file__).parent / "seeds"

Row = dict[str, Any]


class SeedSource(StrictModel):
    """One seed source: a mapping name plus where its data is (Hub id, local file or folder)."""

    source: str = Field(description="field mapping: agorabench, gsm8k, math, mbpp, lima, magpie, webinstruct, conala")
    path: str | None = Field(None, description="Hub id, local file (.jsonl/.json/.parquet/.csv) or folder")
    split: str = "train"
    config: str | None = Field(None, description="Hub dataset configuration, e.g. 'main' for gsm8k")
    limit: int | None = Field(None, ge=1, description="use at most this many rows")
    bundled: str | None = Field(
        None,
        description="source agorabench, no path: a bundled set other than the setting's own, by name (a file "
        "under agorabench/data/seeds/DOMAIN/), e.g. response_generation_constraints",
    )

    @model_validator(mode="after")
    def _bundled_sets_are_ours(self) -> SeedSource:
        if self.bundled is not None and (self.source != "agorabench" or self.path is not None):
            raise ValueError("bundled names one of agorabench's own sets: give it with source agorabench and no path")
        if self.bundled is not None and not re.fullmatch(r"[a-z0-9_]+", self.bundled):
            raise ValueError(f"bundled {self.bundled!r} is not a set name (e.g. response_generation_constraints)")
        return self


# --- field mappings --------------------------------------------------------------------------------------


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _fence(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def map_gsm8k(row: Row) -> Row | None:
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not isinstance(answer, str) or "####" not in answer:
        return None
    reasoning, final = answer.rsplit("####", 1)
    reasoning = re.sub(r"<<[^>]*>>", "", reasoning).strip()  # calculator annotations
    return {
        "id": _stable_id("gsm8k", question),
        "instruction": question.strip(),
        "response": f"{reasoning}\n[RESULT] {final.strip()} [/RESULT]",
    }


def map_math(row: Row) -> Row | None:
    problem, solution = row.get("problem"), row.get("solution")
    if not isinstance(problem, str) or not isinstance(solution, str):
        return None
    boxed = last_boxed(solution)
    if boxed is None:
        return None
    return {
        "id": _stable_id("math", problem),
        "instruction": problem.strip(),
        "response": f"{solution.strip()}\n[RESULT] {boxed.strip()} [/RESULT]",
    }


def map_mbpp(row: Row) -> Row | None:
    text, code = row.get("text") or row.get("prompt"), row.get("code")
    if not isinstance(text, str) or not isinstance(code, str):
        return None
    tests = row.get("test_list") or []
    return {
        "id": f"mbpp-{row['task_id']}" if "task_id" in row else _stable_id("mbpp", text),
        "instruction": text.strip(),
        "response": _fence(code),
        "tests": list(tests),
    }


def map_lima(row: Row) -> Row | None:
    turns = row.get("conversations")
    if not isinstance(turns, list) or len(turns) < 2:
        return None
    return {"id": _stable_id("lima", turns[0]), "instruction": turns[0].strip(), "response": turns[1].strip()}


MAGPIE_DOMAINS = {"Math": "math", "Coding & Debugging": "code"}


def map_magpie(row: Row) -> Row | None:
    turns = row.get("conversations")
    instruction = row.get("instruction")
    if instruction is None and isinstance(turns, list) and turns:
        first = turns[0]
        instruction = first.get("value") if isinstance(first, dict) else first
    if not isinstance(instruction, str):
        return None
    category = row.get("task_category")
    return {
        "id": _stable_id("magpie", instruction),
        "instruction": instruction.strip(),
        "domain": MAGPIE_DOMAINS.get(category, "general") if category else None,
    }


def map_webinstruct(row: Row) -> Row | None:
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not isinstance(answer, str):
        return None
    return {"id": _stable_id("webinstruct", question), "instruction": question.strip(), "response": answer.strip()}


def map_conala(row: Row) -> Row | None:
    intent = row.get("rewritten_intent") or row.get("intent")
    snippet = row.get("snippet")
    if not isinstance(intent, str) or not isinstance(snippet, str):
        return None
    return {"id": _stable_id("conala", intent + snippet), "instruction": intent.strip(), "response": _fence(snippet)}


def map_xp3x(row: Row) -> Row | None:
    """xP3x (prompted multitask data): `inputs` -> instruction, `targets` -> response, fenced when it is bare
    code (the paper's code IG seeds take xP3x's code rows beside MBPP)."""
    inputs, targets = row.get("inputs"), row.get("targets")
    if not isinstance(inputs, str) or not isinstance(targets, str) or not inputs.strip() or not targets.strip():
        return None
    response = targets.strip() if "```" in targets else _fence(targets)
    return {"id": _stable_id("xp3x", inputs + targets), "instruction": inputs.strip(), "response": response}


def map_agorabench(row: Row) -> Row | None:
    if not isinstance(row.get("instruction"), str):
        return None
    out = dict(row)
    out.setdefault("id", _stable_id("seed", row["instruction"]))
    return out


MAPPINGS: dict[str, Callable[[Row], Row | None]] = {
    "agorabench": map_agorabench,
    "gsm8k": map_gsm8k,
    "math": map_math,
    "mbpp": map_mbpp,
    "lima": map_lima,
    "magpie": map_magpie,
    "webinstruct": map_webinstruct,
    "conala": map_conala,
    "xp3x": map_xp3x,
}
DEFAULT_HUB_IDS = {
    "gsm8k": ("openai/gsm8k", "main"),
    "math": ("EleutherAI/hendrycks_math", None),
    "mbpp": ("google-research-datasets/mbpp", "full"),
    "lima": ("GAIR/lima", None),
    "magpie": ("Magpie-Align/Magpie-Pro-300K-Filtered", None),
    "webinstruct": ("TIGER-Lab/WebInstructSub", None),
    "conala": ("neulab/conala", "curated"),
    "xp3x": ("CohereLabs/xP3x", "code"),
}
# MATH's training problems on the Hub, one configuration per subject (EleutherAI/hendrycks_math).
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")

# The paper's seed sources per setting, as SeedSource fields: what the `agorabench` profile uses. Where the
# paper is vague, the choice and its reason are in docs/running.md ("The paper's seeds").
PAPER_SEED_SOURCES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("instance_generation", "math"): [
        {"source": "gsm8k", "path": "openai/gsm8k", "config": "main"},
        *({"source": "math", "path": "EleutherAI/hendrycks_math", "config": subject} for subject in MATH_SUBJECTS),
    ],
    ("instance_generation", "code"): [
        {"source": "mbpp", "path": "google-research-datasets/mbpp", "config": "full"},
        {"source": "xp3x", "path": "CohereLabs/xP3x", "config": "code", "limit": 500},
    ],
    ("instance_generation", "general"): [{"source": "lima", "path": "GAIR/lima"}],
    **{("response_generation", d): [{"source": "magpie", "path": "Magpie-Align/Magpie-Pro-300K-Filtered"}]
       for d in ("math", "code", "general")},
    ("quality_enhancement", "math"): [{"source": "webinstruct", "path": "TIGER-Lab/WebInstructSub"}],
    ("quality_enhancement", "code"): [{"source": "conala", "path": "neulab/conala", "config": "mined"}],
    ("quality_enhancement", "general"): [{"source": "webinstruct", "path": "TIGER-Lab/WebInstructSub"}],
}


# --- reading ---------------------------------------------------------------------------------------------


def bundled_path(method: str, domain: str, name: str | None = None) -> Path:
    """A bundled seed file: the setting's own (named after its method) or the set `name`."""
    path = BUNDLED / domain / f"{name or method}.jsonl"
    if name is not None and not path.is_file():
        known = ", ".join(sorted(p.stem for p in (BUNDLED / domain).glob("*.jsonl")))
        raise AgorabenchError(f"seeds: no bundled set {name!r} for {domain} (bundled: {known})")
    return path


def read_rows(path: Path) -> list[Row]:
    """Rows of a local JSONL / JSON / Parquet / CSV file; one clear line on any problem."""
    if not path.exists():
        raise AgorabenchError(f"{path}: seed file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            text = path.read_text(encoding="utf-8")
            if suffix == ".json" and text.lstrip().startswith("["):
                rows = json.loads(text)
            else:
                rows = read_jsonl(path)
        elif suffix in (".parquet", ".csv"):
            import datasets

            rows = list(datasets.load_dataset(suffix[1:], data_files=str(path), split="train"))
        else:
            raise AgorabenchError(f"{path}: unsupported seed file type {suffix!r} (use .jsonl, .json, .parquet, .csv)")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgorabenchError(f"{path}: cannot read ({exc})") from None
    except AgorabenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow/pandas parse errors come in many types
        raise AgorabenchError(f"{path}: cannot parse ({type(exc).__name__})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise AgorabenchError(f"{path}: expected one JSON object per row")
    return rows


def _load_hub(hub_id: str, config: str | None, split: str) -> list[Row]:
    hub_reachable()  # offline: the libraries' offline mode, so a cache miss fails at once instead of retrying
    import datasets

    try:
        return list(datasets.load_dataset(hub_id, config, split=split))
    except Exception as exc:  # noqa: BLE001 - offline, missing, gated: all one line to the user
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise AgorabenchError(
            f"seed dataset {hub_id!r} (split {split}) cannot be loaded{offline_hint()}: {reason}"
        ) from None


def load_source(spec: SeedSource, method: str, domain: str) -> list[Row]:
    """Mapped rows of one source; for Magpie, only the rows of `domain`."""
    if spec.source not in MAPPINGS:
        raise AgorabenchError(f"unknown seed source {spec.source!r} (known: {', '.join(MAPPINGS)})")
    if spec.path is None:
        if spec.source == "agorabench":
            raw = read_rows(bundled_path(method, domain, spec.bundled))
        else:
            hub_id, config = DEFAULT_HUB_IDS[spec.source]
            raw = _load_hub(hub_id, spec.config or config, spec.split)
    else:
        local = Path(spec.path).expanduser()
        if local.is_file():
            raw = read_rows(local)
        elif local.is_dir() or spec.path.startswith((".", "/", "~")):
            if not local.exists():
                raise AgorabenchError(f"{spec.path}: seed path not found")
            raw = _load_local_folder(local, spec.split)
        else:
            raw = _load_hub(spec.path, spec.config or DEFAULT_HUB_IDS.get(spec.source, (None, None))[1], spec.split)
    mapping = MAPPINGS[spec.source]
    rows = []
    for row in raw:
        mapped = mapping(row)
        if mapped is None:
            continue
        if spec.source == "magpie" and mapped.get("domain") not in (None, domain):
            continue
        rows.append(mapped)
    if not rows:
        where = spec.path or f"the bundled {domain} {method} set"
        raise AgorabenchError(f"{where}: no usable rows for seed source {spec.source!r} (wrong source or fields?)")
    return rows[: spec.limit] if spec.limit else rows


def _load_local_folder(folder: Path, split: str) -> list[Row]:
    readable = sorted(p for p in folder.rglob("*") if p.suffix in (".jsonl", ".json", ".parquet", ".csv"))
    files = [p for p in readable if split in p.name] or readable
    if not files:
        raise AgorabenchError(f"{folder}: no .jsonl/.json/.parquet/.csv files for split {split!r}")
    rows: list[Row] = []
    for path in files:
        rows.extend(read_rows(path))
    return rows


def load_seeds(sources: Iterable[SeedSource], method: str, domain: str) -> list[Row]:
    rows: list[Row] = []
    seen: set[str] = set()
    for spec in sources:
        for row in load_source(spec, method, domain):
            if row["id"] not in seen:  # the same item from two sources counts once
                seen.add(row["id"])
                rows.append(row)
    return rows
