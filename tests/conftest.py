"""Shared fixtures. Every test runs offline: fake servers on 127.0.0.1, models shipped in packages."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """One cache folder per test session: converted models are reused across tests, never the user's."""
    folder = tmp_path_factory.mktemp("agorabench-cache")
    os.environ["AGORABENCH_CACHE_DIR"] = str(folder)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield folder


@pytest.fixture
def instructions_file(tmp_path) -> Path:
    return write_instructions(tmp_path / "instructions.jsonl", 20)


def write_instructions(path: Path, count: int) -> Path:
    with open(path, "w") as handle:
        for i in range(count):
            handle.write(json.dumps({"instruction": f"Question number {i}: what is {i} + {i}?"}) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agorabench", *args]


def complete_once(config, params, question: str = "Which?"):
    """One request through a fresh backend of `config` (closed afterwards): its Completion."""
    import asyncio

    from agorabench.llm.base import Message
    from agorabench.llm.registry import create_backend

    async def go():
        backend = create_backend(config)
        try:
            return await backend.complete([Message(role="user", content=question)], params)
        finally:
            await backend.aclose()

    return asyncio.run(go())
