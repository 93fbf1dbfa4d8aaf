"""Batch mode (`mode: batch`): requests go through OpenAI's Batch API or Anthropic's Message Batches on the fake
server (real HTTP, the real SDKs), are grouped into few batches, billed at the batch price, retried into later
batches when a result is invalid, errored or expired, and resumed from the ledger after a SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.llm.base import SamplingParams, as_messages
from agorabench.llm.batch.base import custom_id
from agorabench.llm.batch.ledger import LEDGER_FILE, Ledger
from agorabench.testing.fake_batch import batch_stats, configure_batches
from agorabench.testing.fake_server import FakeServer, last_user_text
from conftest import REPO, cli_command, read_jsonl

RG_GENERAL = "1. Review your notes every day.\n2. Sleep well before the exam.\n3. Practise with past questions.\n[END]"
REFUSAL = "I'm sorry, but I cannot help with that request."
LIST_PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}
N = 20


def generator_file(tmp_path: Path, backend: str, url: str) -> Path:
    path = tmp_path / f"{backend}-batch.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"{backend}-batch", "backend": backend, "model": "fake-model", "mode": "batch",
        "base_urls": [url], "pricing": LIST_PRICE,
    }))
    return path


def generate_args(generator: Path, out: Path, n: int = N) -> list[str]:
    return [
        "generate", "-g", str(generator), "--method", "response_generation", "--domain", "general",
        "-n", str(n), "-o", str(out), "--no-cache", "--no-progress",
    ]


def base_url(server: FakeServer, backend: str) -> str:
    return server.openai_base_url if backend == "openai" else server.anthropic_base_url


def ledger(out: Path) -> list[dict]:
    return read_jsonl(out / LEDGER_FILE)


def batch_price_cost(usage: dict) -> float:
    listed = usage["prompt_tokens"] * LIST_PRICE["input_per_mtok"] + usage["completion_tokens"] * LIST_PRICE[
        "output_per_mtok"
    ]
    return listed / 1e6 * 0.5


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_generate_in_batch_mode_groups_requests_and_bills_the_batch_price(tmp_path, backend):
    out = tmp_path / "out"
    with FakeServer(responder=lambda body: RG_GENERAL) as server:
        configure_batches(server.url, polls=2)
        generator = generator_file(tmp_path, backend, base_url(server, backend))
        result = CliRunner().invoke(app, generate_args(generator, out))
        assert result.exit_code == 0, result.output
        stats = batch_stats(server.url)
        input_lines = [
            json.loads(line)
            for row in ledger(out) if row.get("input_file_id")
            for line in urllib.request.urlopen(f"{server.url}/v1/files/{row['input_file_id']}/content")
            .read().decode().splitlines()
        ]
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == N and len({r["id"] for r in records}) == N
    assert all(r["response"].startswith("1. Review") for r in records)
    # Fewer batches than requests: all twenty went in one, and each request was asked once.
    assert 1 <= stats["batches_created"] < N
    assert stats["counts"]["requests_submitted"] == N and stats["requests_answered"] == N
    # The ledger lists every batch the server created, what each held, and what it billed.
    rows = ledger(out)
    submitted = [row for row in rows if row["event"] == "submitted"]
    assert sorted(row["batch_id"] for row in submitted) == sorted(b["id"] for b in stats["batches"])
    held = [cid for row in submitted for cid in row["custom_ids"]]
    assert len(held) == len(set(held)) == N and sum(row["requests"] for row in submitted) == N
    ended = {row["batch_id"]: row for row in rows if row["event"] == "ended"}
    assert set(ended) == {row["batch_id"] for row in submitted}
    assert all(ended[row["batch_id"]]["counts"] == {"succeeded": row["requests"]} for row in submitted)
    # Costs at the batch price: half the list price given in `pricing:`, record by record and in the ledger.
    for record in records:
        assert record["cost_usd"] == pytest.approx(batch_price_cost(record["usage"]), abs=1e-8)
        assert record["usage"]["prompt_tokens"] > 0 and record["usage"]["completion_tokens"] > 0
    total = sum(r["cost_usd"] for r in records)
    assert sum(row["cost_usd"] for row in ended.values()) == pytest.approx(total, abs=1e-7)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["pricing"]["input_per_mtok"] == 1.0 and metadata["pricing"]["output_per_mtok"] == 4.0
    assert metadata["this_run"]["cost_usd"] == pytest.approx(total, abs=1e-6)
    assert any(row["event"] == "consumed" for row in rows)  # the run ended with every result taken
    if backend == "openai":
        # The input file holds the online chat-completions bodies, each under the hash of what it asks.
        assert len(input_lines) == N
        for line in input_lines:
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
            assert {"model", "messages", "temperature", "top_p", "max_tokens", "seed"} <= set(line["body"])
            body = line["body"]
            asked = SamplingParams(
                temperature=body["temperature"], top_p=body["top_p"], max_tokens=body["max_tokens"],
                stop=tuple(body.get("stop", ())), seed=body["seed"],
            )
            assert line["custom_id"] == custom_id("openai", "fake-model", as_messages(body["messages"]), asked)


def flaky_responder():
    """A refusal (rejected by the validator) the first time a third of the prompts is seen, valid afterwards."""
    seen: set[str] = set()
    lock = threading.Lock()

    def respond(body: dict) -> str:
        prompt = last_user_text(body)
        with lock:
            first = prompt not in seen
            seen.add(prompt)
        if first and int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3 == 0:
            return REFUSAL
        return RG_GENERAL

    return respond


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_invalid_errored_and_expired_results_are_retried_in_later_batches(tmp_path, backend):
    out = tmp_path / "out"
    with FakeServer(responder=flaky_responder()) as server:
        configure_batches(server.url, polls=1, errored=0.15, expired=0.15, seed=3)
        generator = generator_file(tmp_path, backend, base_url(server, backend))
        result = CliRunner().invoke(app, generate_args(generator, out))
        assert result.exit_code == 0, result.output
        stats = batch_stats(server.url)
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == N and not (out / "failed.jsonl").read_text().strip()
    assert all(r["response"].startswith("1. Review") and REFUSAL not in r["response"] for r in records)
    metadata = json.loads((out / "metadata.json").read_text())
    this_run = metadata["this_run"]
    assert this_run["rejections"].get("refusal", 0) >= 1  # some outputs in a batch were invalid ...
    expired_kind = "batch_expired"
    errored_kind = "http_500" if backend == "openai" else "batch_api_error"
    assert this_run["transport_errors"].get(expired_kind, 0) >= 1  # ... some expired ...
    assert this_run["transport_errors"].get(errored_kind, 0) >= 1  # ... some errored
    # ... and all of them were asked again in later batches, each request answered once.
    assert stats["batches_created"] >= 2 and stats["answered_twice"] == []
    retried = sum(this_run["rejections"].values()) + sum(this_run["transport_errors"].values())
    assert stats["counts"]["requests_submitted"] == N + retried
    rows = ledger(out)
    ended = [row for row in rows if row["event"] == "ended"]
    assert sum(row["counts"].get("succeeded", 0) for row in ended) == N + this_run["rejections"]["refusal"]
    assert any(expired_kind in row["counts"] for row in ended) and any(errored_kind in row["counts"] for row in ended)
    if backend == "openai":
        assert any(row["status"] == "expired" for row in ended)  # a batch with expired requests ends "expired"
    # What the records cost (rejected samples included) is what the ledger says the batches billed.
    assert sum(r["cost_usd"] for r in records) == pytest.approx(sum(row["cost_usd"] for row in ended), abs=1e-7)


class FakeServerProcess:
    """`python -m agorabench.testing.fake_server` in its own process (it outlives the killed generate run)."""

    def __init__(self, tmp_path: Path, canned: list[str]):
        canned_file = tmp_path / "canned.json"
        canned_file.write_text(json.dumps(canned))
        port_file = tmp_path / "port"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agorabench.testing.fake_server", "--port", "0", "--port-file", str(port_file),
             "--canned", str(canned_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, "the fake server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_a_run_killed_while_polling_resumes_its_batch_without_resubmitting(tmp_path):
    server = FakeServerProcess(tmp_path, [RG_GENERAL])
    try:
        configure_batches(server.url, polls=1, delay_s=6.0)
        out = tmp_path / "out"
        command = cli_command(*generate_args(generator_file(tmp_path, "openai", server.url + "/v1"), out))
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        submitted = []
        while time.monotonic() < deadline and not submitted:
            if (out / LEDGER_FILE).exists():
                submitted = [row for row in ledger(out) if row["event"] == "submitted"]
            time.sleep(0.05)
        assert submitted, "no batch was ever submitted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = batch_stats(server.url)
        assert before["batches_created"] == 1 and before["batches"][0]["status"] != "completed"  # killed while polling
        assert not (out / "records.jsonl").read_text().strip()
        (batch_id,) = [row["batch_id"] for row in submitted]

        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        after = batch_stats(server.url)
    finally:
        server.close()
    # The rerun polled the stored batch and read its results: nothing was submitted again.
    assert after["batches_created"] == 1 and after["counts"]["requests_submitted"] == N
    assert after["counts"]["files_uploaded"] == 1 and after["counts"]["polls"] > before["counts"].get("polls", 0)
    assert after["batches"][0]["id"] == batch_id and after["batches"][0]["status"] == "completed"
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == N and len({r["id"] for r in records}) == N
    rows = ledger(out)
    assert [row["batch_id"] for row in rows if row["event"] == "submitted"] == [batch_id]
    (ended,) = [row for row in rows if row["event"] == "ended"]
    assert ended["batch_id"] == batch_id and ended["counts"] == {"succeeded": N}
    assert sum(r["cost_usd"] for r in records) == pytest.approx(ended["cost_usd"], abs=1e-7)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_a_batch_the_provider_rejects_stops_the_run_in_one_line(tmp_path, backend):
    out = tmp_path / "out"
    with FakeServer(responder=lambda body: RG_GENERAL) as server:
        configure_batches(server.url, reject="Enqueued token limit reached for fake-model in organization org-x.")
        command = cli_command(*generate_args(generator_file(tmp_path, backend, base_url(server, backend)), out))
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        stats = batch_stats(server.url)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "rejected" in lines[0] and "Enqueued token limit reached" in lines[0] and "Traceback" not in done.stderr
    # Nothing half-written: no record, a metadata file that says so, a ledger of whole lines naming the rejection.
    assert not (out / "records.jsonl").read_text().strip()
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["status"] == "failed" and metadata["counts"]["records"] == 0
    rows = ledger(out)
    assert any(row["event"] == "rejected" for row in rows)
    assert all(row["event"] != "ended" for row in rows)
    assert (out / LEDGER_FILE).read_bytes().endswith(b"\n")
    if backend == "openai":
        assert stats["batches"][0]["status"] == "failed"  # refused at validation
    else:
        assert stats["batches_created"] == 0 and stats["counts"]["anthropic_batches_rejected"] >= 1


def test_the_ledger_survives_a_torn_line_and_tells_each_batch_state(tmp_path):
    path = tmp_path / LEDGER_FILE
    book = Ledger(path)
    book.append("submitted", batch_id="b1", provider="openai", custom_ids=["a", "b"], requests=2)
    book.append("status", batch_id="b1", status="in_progress")
    book.append("submitted", batch_id="b2", provider="openai", custom_ids=["c"], requests=1)
    book.append("ended", batch_id="b2", status="completed", counts={"succeeded": 1})
    book.append("submitted", batch_id="b3", provider="openai", custom_ids=["d"], requests=1)
    book.append("rejected", batch_id="b3", status="failed", reason="no")
    book.close()
    with open(path, "a") as handle:
        handle.write('{"event": "ended", "batch_id": "b1", "sta')  # a SIGKILL mid-write
    book = Ledger(path)  # cuts the torn tail, so the next line starts clean
    book.append("consumed", batch_id="b2")
    book.close()
    assert path.read_bytes().endswith(b"\n") and all(json.loads(line) for line in path.read_text().splitlines())
    batches = Ledger(path).batches()
    assert list(batches) == ["b1", "b2", "b3"]
    assert batches["b1"].status == "in_progress" and not batches["b1"].ended and batches["b1"].resumable
    assert batches["b1"].custom_ids == ["a", "b"]
    assert batches["b2"].ended and batches["b2"].consumed and not batches["b2"].resumable
    assert batches["b3"].rejected and not batches["b3"].resumable
