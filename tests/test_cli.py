"""The `agorabench generate` command as a user runs it: real processes, real HTTP, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import REPO, cli_command, read_jsonl, write_instructions

from agorabench.testing.fake_server import FakeServer, Faults


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_sigkill_mid_run_then_rerun_gives_every_record_once(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out"
    args = [
        "generate", "-g", "openai:fake-model", "-i", str(inputs), "-o", str(out),
        "--concurrency", "4", "--no-progress",
    ]
    with FakeServer(faults=Faults(latency_s=0.1)) as server:
        args += ["--base-url", server.openai_base_url]
        first = subprocess.Popen(cli_command(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        records = out / "records.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if records.exists() and records.read_text().count("\n") >= 12:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        partial = read_jsonl(records)
        assert 12 <= len(partial) < 60
        second = run_cli(*args)
        assert second.returncode == 0, second.stderr
        final_requests = server.stats()["requests"]
    lines = records.read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is valid JSON
    assert len(parsed) == 60
    assert len({r["id"] for r in parsed}) == 60
    # Work finished before the kill was not redone (at most the in-flight requests were repeated).
    assert final_requests <= 60 + 4
    assert json.loads((out / "metadata.json").read_text())["counts"]["records"] == 60


def test_torn_last_line_is_repaired_on_resume(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out"
    with FakeServer() as server:
        base = ["generate", "-g", "openai:fake-model", "--base-url", server.openai_base_url, "-i", str(inputs)]
        assert run_cli(*base, "-o", str(out), "-n", "3", "--no-cache").returncode == 0
        with open(out / "records.jsonl", "a") as handle:
            handle.write('{"id": "torn-by-a-cra')  # what a kill in the middle of a write leaves
        proc = run_cli(*base, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 5 and len({r["id"] for r in records}) == 5


def test_unknown_config_field_is_one_line_naming_file_and_field(tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text("sampling:\n  temperatur: 0.5\n")
    proc = run_cli("generate", "-c", str(config), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, str(config), "sampling.temperatur", "unknown field")


def test_out_of_range_value_is_one_line_with_the_value(tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text("sampling:\n  temperature: 7\n")
    proc = run_cli("generate", "-c", str(config))
    assert_one_line_error(proc, "sampling.temperature", "got 7")


def test_bad_generator_file_is_one_line(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("backend: openai\nmodel: x\nbase_urls: [ftp://nope]\n")
    proc = run_cli("generate", "-g", str(config))
    assert_one_line_error(proc, "mine.yaml", "base_urls")


def test_invalid_yaml_is_one_line(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("sampling: [unclosed\n")
    assert_one_line_error(run_cli("generate", "-c", str(config)), "broken.yaml")


def test_missing_key_variable_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        cli_command("generate", "-g", "gpt-4o-mini", "-o", str(tmp_path / "out")),
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )
    assert_one_line_error(proc, "OPENAI_API_KEY", "not set")
    assert not (tmp_path / "out").exists()


def test_unreachable_endpoint_is_one_line(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = run_cli(
        "generate", "-g", "openai:m", "--base-url", f"http://127.0.0.1:{port}/v1", "-o", str(tmp_path / "out")
    )
    assert_one_line_error(proc, f"127.0.0.1:{port}", "cannot reach")


def test_missing_input_file_is_one_line(tmp_path):
    proc = run_cli("generate", "-g", "openai:m", "-i", str(tmp_path / "nope.jsonl"))
    assert_one_line_error(proc, "nope.jsonl", "not found")


def test_unknown_generator_is_one_line():
    assert_one_line_error(run_cli("generate", "-g", "gpt-5-ultra"), "unknown generator", "gpt-5-ultra")


def test_api_key_never_reaches_output_cache_or_messages(tmp_path):
    secret = "sk-test-SECRET-4f8a9b"
    inputs = write_instructions(tmp_path / "in.jsonl", 30)
    cache = tmp_path / "cache"
    env = {"MY_KEY": secret, "AGORABENCH_CACHE_DIR": str(cache)}
    faults = Faults(rate_limit=0.1, server_error=0.1, reset=0.1, malformed=0.05, seed=5)
    with FakeServer(faults=faults, api_key=secret) as server:
        gen = tmp_path / "gen.yaml"
        gen.write_text(
            f"name: keyed\nbackend: openai\nmodel: fake-model\napi_key_env: MY_KEY\n"
            f"base_urls: [{server.openai_base_url}]\ntimeout_s: 2\n"
        )
        ok = run_cli("generate", "-g", str(gen), "-i", str(inputs), "-o", str(tmp_path / "out"), env=env)
        assert ok.returncode == 0, ok.stderr
        assert server.stats()["unauthorized"] == 0  # the key was sent
        wrong = run_cli(
            "generate", "-g", str(gen), "-i", str(inputs), "-o", str(tmp_path / "out2"), "--no-cache",
            env={**env, "MY_KEY": secret[::-1]},
        )
    assert_one_line_error(wrong, "401")
    for proc in (ok, wrong):
        assert secret not in proc.stdout + proc.stderr and secret[::-1] not in proc.stdout + proc.stderr
    for folder in (tmp_path / "out", tmp_path / "out2", cache):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert secret.encode() not in data and secret[::-1].encode() not in data, path


def test_dry_run_estimates_and_sends_nothing(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 1000)
    with FakeServer() as server:
        proc = run_cli(
            "generate", "-g", "gpt-4o", "--base-url", server.openai_base_url, "-i", str(inputs),
            "-o", str(tmp_path / "out"), "--dry-run", "--max-tokens", "1000",
            env={"OPENAI_API_KEY": "unused"},
        )
        assert server.stats()["requests"] == 0
    assert proc.returncode == 0, proc.stderr
    assert "requests:      1000" in proc.stdout
    # 1000 x 500 expected output tokens at $10/M = $5 plus prompts; at most 1000 x 1000 x $10/M.
    assert "$5.0" in proc.stdout and "at most $10.0" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_another_process_on_the_same_folder_is_refused(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out"
    with FakeServer(faults=Faults(latency_s=0.2)) as server:
        args = ["generate", "-g", "openai:fake-model", "--base-url", server.openai_base_url,
                "-i", str(inputs), "-o", str(out), "--concurrency", "2", "--no-progress"]
        first = subprocess.Popen(cli_command(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (out / "records.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_cli(*args)
        first.kill()
        first.wait()
    assert_one_line_error(second, "another agorabench process")


def test_changed_generator_into_same_folder_is_refused(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 3)
    with FakeServer() as server:
        base = ["generate", "--base-url", server.openai_base_url, "-i", str(inputs), "-o", str(tmp_path / "o")]
        assert run_cli(*base, "-g", "openai:model-a").returncode == 0
        assert_one_line_error(run_cli(*base, "-g", "openai:model-b"), "different generator")


def test_help_lists_generate():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "generate" in proc.stdout


@pytest.mark.slow
def test_default_generator_is_the_embedded_model_end_to_end(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        "\n".join(
            json.dumps({"instruction": text})
            for text in ["Say hello in one short sentence.", "Name one colour.", "What is 2 + 2? Answer briefly."]
        )
        + "\n"
    )
    proc = run_cli("generate", "-i", str(inputs), "-o", str(tmp_path / "out"), "--max-tokens", "96", timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    failures = read_jsonl(tmp_path / "out" / "failed.jsonl")
    assert len(records) + len(failures) == 3 and records
    assert all(r["generator"] == "smollm2-135m-instruct" and r["response"].strip() for r in records)
    assert all(r["usage"]["completion_tokens"] > 0 and r["cost_usd"] == 0 for r in records)
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["generator"]["backend"] == "local"
    # The same command again is served from the cache: same records, no model call.
    again = run_cli("generate", "-i", str(inputs), "-o", str(tmp_path / "again"), "--max-tokens", "96", timeout=600)
    assert again.returncode == 0, again.stderr
    replayed = {r["id"]: r["response"] for r in read_jsonl(tmp_path / "again" / "records.jsonl")}
    assert replayed == {r["id"]: r["response"] for r in records}


def test_ctrl_c_saves_work_and_says_how_to_resume(tmp_path):
    # 200 items at 2 in flight and 0.2 s each take 20 s: the interrupt surely lands mid-run.
    inputs = write_instructions(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out"
    with FakeServer(faults=Faults(latency_s=0.2)) as server:
        args = ["generate", "-g", "openai:fake-model", "--base-url", server.openai_base_url,
                "-i", str(inputs), "-o", str(out), "--concurrency", "2", "--no-progress"]
        proc = subprocess.Popen(cli_command(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (out / "records.jsonl").exists() and (out / "records.jsonl").read_text().count("\n") >= 4:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "interrupted" in stderr and "Traceback" not in stderr
        metadata = json.loads((out / "metadata.json").read_text())
        assert metadata["status"] == "interrupted"
        assert 4 <= metadata["counts"]["records"] == len(read_jsonl(out / "records.jsonl")) < 200
        assert run_cli(*args, "--concurrency", "32").returncode == 0
    assert len(read_jsonl(out / "records.jsonl")) == 200
