"""In-process vLLM (offline `vllm.LLM`) for users with a GPU: open-weight generators at full speed,
no server to run.

vLLM schedules continuously inside one `llm.chat()` call, so the backend's job is only to hand it
many requests at once: a `MicroBatcher` gathers whatever is queued (up to 256 by default) and one
worker thread calls `llm.chat()` with one conversation and one `vllm.SamplingParams` per request.
`import vllm` happens in that thread on first use, so this module imports on any machine.

The mapping to and from vLLM's types lives in plain functions (`vllm_sampling_kwargs`,
`vllm_sampling_params`, `completion_from_output`) that need neither vLLM nor a GPU to test.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agorabench.errors import AgorabenchError
from agorabench.llm.base import (
    Completion,
    FatalError,
    ItemError,
    SamplingParams,
    Usage,
    normalise_finish_reason,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.embedded import resolve_local_model
from agorabench.llm.in_process import InProcessBackend, Request, one_line

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'agorabench[vllm]' (on a machine with a CUDA GPU)"
MIN_BATCH = 256  # vLLM fills the GPU from its own queue; more requests per call means fewer idle gaps


# What we read from vLLM's RequestOutput / CompletionOutput (structural, so tests need no vLLM).
class _LogprobLike(Protocol):
    logprob: float
    decoded_token: str | None


class _CompletionOutputLike(Protocol):
    text: str
    token_ids: Sequence[int]
    finish_reason: str | None
    # Per output position, token id -> Logprob; set when the request asked for logprobs.
    logprobs: Sequence[Mapping[int, _LogprobLike]] | None


class RequestOutputLike(Protocol):
    prompt_token_ids: Sequence[int] | None
    outputs: Sequence[_CompletionOutputLike]


def vllm_sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for one request (temperature 0 is greedy in vLLM)."""
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "stop": list(params.stop),
        "seed": params.seed,  # per request: the same seed gives the same text whatever else is running
        "repetition_penalty": params.repetition_penalty,
        # vLLM returns this many top alternatives per position, plus the sampled token.
        **({"logprobs": params.top_logprobs} if params.top_logprobs is not None else {}),
        # Structured output: decoding constrained to the JSON schema (built by `vllm_sampling_params`).
        **({"structured_outputs": {"json": params.json_schema}} if params.json_schema is not None else {}),
    }


def vllm_sampling_params(vllm: Any, params: SamplingParams) -> Any:
    """One request's `vllm.SamplingParams`. A JSON schema goes the way the installed vLLM takes it:
    `structured_outputs=StructuredOutputsParams(json=...)` (vLLM 0.10.2 on; 0.12 removed the old name) or
    `guided_decoding=GuidedDecodingParams(json=...)` (earlier); vLLM's default grammar backend enforces it."""
    kwargs = vllm_sampling_kwargs(params)
    structured = kwargs.pop("structured_outputs", None)
    if structured is not None:
        module = vllm.sampling_params
        if hasattr(module, "StructuredOutputsParams"):
            kwargs["structured_outputs"] = module.StructuredOutputsParams(**structured)
        else:
            kwargs["guided_decoding"] = module.GuidedDecodingParams(**structured)
    return vllm.SamplingParams(**kwargs)


def completion_from_output(output: RequestOutputLike, model: str) -> Completion:
    """A `Completion` from one vLLM RequestOutput (its first and only sample)."""
    if not output.outputs:
        raise ItemError("empty_output", "vLLM returned no output for this request")
    first = output.outputs[0]
    return Completion(
        text=first.text,  # vLLM already removed the stop string and EOS
        finish_reason=normalise_finish_reason(first.finish_reason),  # "stop" | "length" | "abort"
        usage=Usage(
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(first.token_ids),
        ),
        model=model,
        top_logprobs=_first_token_logprobs(getattr(first, "logprobs", None)),
    )


def _first_token_logprobs(logprobs: Sequence[Mapping[int, _LogprobLike]] | None) -> dict[str, float] | None:
    if not logprobs:
        return None
    alternatives: dict[str, float] = {}
    for entry in logprobs[0].values():
        token = entry.decoded_token
        if token is not None:  # two token ids that decode alike: keep the likelier
            alternatives[token] = max(float(entry.logprob), alternatives.get(token, -math.inf))
    return alternatives or None


def engine_kwargs(config: GeneratorConfig, model_path: str) -> dict[str, Any]:
    """`vllm.LLM` keyword arguments: ours first, the user's `engine_args` win (devices, parallelism,
    memory: vLLM picks the GPU itself, so `config.device` is not passed)."""
    kwargs: dict[str, Any] = {"model": model_path, "seed": 0}
    if config.dtype != "auto":
        kwargs["dtype"] = config.dtype
    return kwargs | config.engine_args


class VLLMBackend(InProcessBackend):
    """A `vllm.LLM` in this process, created by the worker thread on first use."""

    def __init__(self, config: GeneratorConfig):
        # A GPU step is cheap next to an idle GPU: bigger batches, and wait a little longer to fill them.
        super().__init__(config, max_batch_size=max(config.max_batch_size, MIN_BATCH), max_wait_s=0.02)
        self._vllm: Any = None

    def _run_batch(self, requests: list[Request]) -> list[Completion | Exception]:
        llm = self.runtime()
        try:
            outputs = self._chat(llm, requests)
        except ValueError as exc:
            if len(requests) == 1:
                # vLLM rejects a prompt longer than the context with ValueError.
                return [ItemError("bad_request", f"vLLM rejected the request: {one_line(exc)}")]
            # One bad request fails vLLM's whole call: run them one by one so only it fails.
            return [self._run_batch([request])[0] for request in requests]
        except Exception as exc:  # the engine died (CUDA error, out of memory): nothing will succeed
            raise FatalError("vllm_engine", f"vLLM failed: {one_line(exc)}") from exc
        results: list[Completion | Exception] = []
        for output in outputs:
            try:
                results.append(completion_from_output(output, self.model))
            except ItemError as exc:
                results.append(exc)
        return results

    def _chat(self, llm: Any, requests: list[Request]) -> list[Any]:
        conversations = [[m.model_dump() for m in r.messages] for r in requests]
        sampling = [vllm_sampling_params(self._vllm, r.params) for r in requests]
        outputs = llm.chat(conversations, sampling_params=sampling, use_tqdm=False)
        if len(outputs) != len(requests):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
        return list(outputs)

    def _load_runtime(self) -> Any:
        try:
            import vllm
        except ImportError as exc:
            raise FatalError(
                "missing_package", f"the vllm backend needs vLLM ({exc}): {INSTALL_HINT}"
            ) from None
        try:
            path = resolve_local_model(self.config.model)
        except AgorabenchError as exc:
            raise FatalError("model_unavailable", str(exc)) from None
        kwargs = engine_kwargs(self.config, path)
        log.info("starting vLLM for %s", self.config.model)
        try:
            llm = vllm.LLM(**kwargs)
        except Exception as exc:  # noqa: BLE001 - unknown model, no GPU, out of memory, bad engine_args
            raise FatalError(
                "model_load", f"vLLM cannot load {self.config.model!r}: {one_line(exc)}"
            ) from None
        self._vllm = vllm
        return llm

