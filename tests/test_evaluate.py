"""`agorabench evaluate` end to end: a model served over real HTTP that answers from the answer key
scores 100, one that answers nonsense scores 0, and every output file says why."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO, cli_command, read_jsonl

from agorabench.testing.fake_server import FakeServer, last_user_text


def run_evaluate(server, out, *args):
    """The command, with the generator file `oracle_generator` wrote beside `out`."""
    return subprocess.run(
        cli_command("evaluate", "-m", str(out.parent / "oracle.yaml"), "-o", str(out), *args),
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )


def oracle_generator(tmp_path, server, model="oracle"):
    # The model name is part of the request cache key: a different model must not reuse answers.
    path = tmp_path / "oracle.yaml"
    path.write_text(f"name: {model}\nbackend: openai\nmodel: {model}\nbase_urls: [{server.openai_base_url}]\n")
    return path


def gsm8k_oracle():
    from agorabench.data.benchmarks.gsm8k import load_gsm8k_test

    gold = {item["question"]: item["gold"] for item in load_gsm8k_test().items}

    def answer(body):
        prompt = last_user_text(body)
        question = prompt.split("\n\nSolve the problem")[0]
        return f"Working it out.\n[RESULT] {gold[question]} [/RESULT]" if question in gold else "no idea"

    return answer


def humaneval_oracle():
    from agorabench.data.benchmarks.humaneval import load_humaneval

    solutions = {item["prompt"]: item["canonical_solution"] for item in load_humaneval().items}

    def answer(body):
        prompt = last_user_text(body)
        for stub, solution in solutions.items():
            if stub in prompt:
                return f"```python\n{stub}{solution}```"
        return "```python\npass\n```"

    return answer


@pytest.mark.parametrize(
    "bench,oracle",
    [("gsm8k", gsm8k_oracle), ("humaneval", humaneval_oracle)],
)
def test_an_oracle_scores_100_and_nonsense_scores_0(tmp_path, bench, oracle):
    with FakeServer(responder=oracle()) as server:
        oracle_generator(tmp_path, server)
        out = tmp_path / "oracle-run"
        proc = run_evaluate(server, out, "-b", bench, "--limit", "12")
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / bench / "summary.json").read_text())
    assert summary["score"] == 100.0 and summary["n"] == 12
    assert summary["ci95"][0] <= 100.0 <= summary["ci95"][1] + 1e-9
    assert summary["data"]["checksum"] and summary["decoding"]["top_p"] == 0.95
    results = read_jsonl(out / bench / "results.jsonl")
    assert len(results) == 12 and all(r["output"] for r in results)
    assert bench in proc.stdout and "100.00" in proc.stdout

    with FakeServer(responder=lambda body: "I refuse to answer.") as server:
        oracle_generator(tmp_path, server, model="nonsense")
        out = tmp_path / "nonsense-run"
        proc = run_evaluate(server, out, "-b", bench, "--limit", "12")
        assert proc.returncode == 0, proc.stderr
    assert json.loads((out / bench / "summary.json").read_text())["score"] == 0.0


def test_ifeval_through_the_command(tmp_path):
    with FakeServer(responder=lambda body: last_user_text(body)) as server:  # echoes the prompt
        oracle_generator(tmp_path, server)
        out = tmp_path / "echo"
        proc = run_evaluate(server, out, "-b", "ifeval", "--limit", "20")
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "ifeval" / "summary.json").read_text())
    assert summary["n"] == 20 and 0 <= summary["score"] <= 100
    assert set(summary["extra"]) >= {"prompt_level_strict", "inst_level_strict", "prompt_level_loose", "inst_level_loose"}


def test_unknown_benchmark_and_missing_judge_are_one_line(tmp_path):
    proc = subprocess.run(cli_command("evaluate", "-m", "openai:x", "-b", "mmlu"), capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0 and "unknown benchmark 'mmlu'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_embedded_model_is_evaluated_in_process(tmp_path):
    out = tmp_path / "smol"
    proc = subprocess.run(
        cli_command("evaluate", "-m", "smollm2-135m-instruct", "-b", "gsm8k", "--limit", "2", "-o", str(out)),
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "gsm8k" / "summary.json").read_text())
    assert summary["n"] == 2 and summary["model"]["backend"] == "local" and 0 <= summary["score"] <= 100
    results = read_jsonl(out / "gsm8k" / "results.jsonl")
    assert all(r["output"] and "rule" in r for r in results)


def test_mbpp_from_a_local_file(tmp_path):
    mbpp = tmp_path / "mbpp_test.jsonl"
    rows = [
        {"task_id": 601, "text": "Write a function to triple a number.", "code": "def triple(x):\n    return 3 * x",
         "test_list": ["assert triple(2) == 6", "assert triple(0) == 0"], "test_setup_code": ""},
        {"task_id": 602, "text": "Write a function to reverse a string.", "code": "def rev(s):\n    return s[::-1]",
         "test_list": ["assert rev('ab') == 'ba'"], "test_setup_code": ""},
    ]
    mbpp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = {r["text"]: r["code"] for r in rows}

    def answer(body):
        prompt = last_user_text(body)
        text = prompt.split("\n")[0]
        # Right for the first task, wrong for the second.
        return f"```python\n{code[text]}\n```" if "triple" in text else "```python\ndef rev(s):\n    return s\n```"

    with FakeServer(responder=answer) as server:
        oracle_generator(tmp_path, server, model="half-right")
        out = tmp_path / "mbpp-run"
        proc = run_evaluate(server, out, "-b", "mbpp", "--benchmark-path", str(mbpp))
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "mbpp" / "summary.json").read_text())
    assert summary["score"] == 50.0 and summary["n"] == 2
    verdicts = {r["id"]: r["passed"] for r in read_jsonl(out / "mbpp" / "results.jsonl")}
    assert verdicts == {"601": True, "602": False}


def test_alpaca_eval_through_the_command_with_a_judge(tmp_path):
    def play(body):
        prompt = last_user_text(body)
        if "## Best Model Identifier" in prompt:
            return "m"  # alpaca_eval's official template (the `alpaca` extra): always model "m"
        if "[[A]]" in prompt or "[[B]]" in prompt or "judge" in prompt.lower():
            return "[[A]]"  # the judge: always the first output
        return "A short answer."

    with FakeServer(responder=play) as server:
        oracle_generator(tmp_path, server, model="student")
        judge = tmp_path / "judge.yaml"
        judge.write_text(f"name: judge\nbackend: openai\nmodel: judge\nbase_urls: [{server.openai_base_url}]\n")
        out = tmp_path / "ae"
        proc = run_evaluate(server, out, "-b", "alpaca_eval", "--limit", "6", "--judge", str(judge))
        assert proc.returncode == 0, proc.stderr
        missing = run_evaluate(server, tmp_path / "nojudge", "-b", "alpaca_eval", "--limit", "2")
    summary = json.loads((out / "alpaca_eval" / "summary.json").read_text())
    assert summary["n"] == 6 and summary["metric"].startswith("length-controlled win rate")
    assert 0 <= summary["score"] <= 100 and summary["extra"]["n"] == 6
    assert missing.returncode != 0 and "--judge" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
