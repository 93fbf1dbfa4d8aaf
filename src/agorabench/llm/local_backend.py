"""In-process generation with transformers: the offline default (the embedded SmolLM2) and any local
or Hub causal LM with a chat template.

Concurrent `complete()` calls are decoded together: a `MicroBatcher` hands up to `max_batch_size`
requests to one worker thread, which runs a single left-padded `generate()` for all of them.
Measured on the 2-core dev machine (SmolLM2-135M, 64 new tokens per row, best of 3, while other jobs
shared the CPU, so absolute numbers are low): this backend ~15 tokens/s at batch 1 and ~60 at batch 8
in float32, the same as plain `generate()` measured side by side (14.6 and 62.9): the per-row sampler
costs nothing visible. bfloat16 reached ~18 and ~90 but is not the CPU default (see `_pick_dtype`).

Each row keeps its own decoding settings inside the shared batch. `_RowSampler` (a LogitsProcessor)
applies the row's repetition penalty, temperature and top-p and draws the row's token with the row's
own `torch.Generator` (seeded from `params.seed`), then hands generate() scores that are -inf except
for that token, so generate's greedy step picks it. The same request with the same seed therefore
gives the same text whether it runs alone or beside others: in float32 the padding's rounding noise
would have to land a draw exactly on a probability boundary (bfloat16's noise is large enough to
change tokens, see `_pick_dtype`). `_RowStopper` (a
StoppingCriteria) ends each row at its own max_tokens, at a stop string, or at EOS.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agorabench.errors import AgorabenchError
from agorabench.llm.base import (
    Completion,
    FatalError,
    FinishReason,
    ItemError,
    Message,
    SamplingParams,
    Usage,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.embedded import resolve_local_model
from agorabench.llm.in_process import InProcessBackend, Request, one_line
from agorabench.llm.plain_template import PLAIN_CHAT_TEMPLATE, PLAIN_STOPS

if TYPE_CHECKING:  # torch and transformers load lazily: importing this module must stay cheap
    import torch

log = logging.getLogger(__name__)


@dataclass
class _Row:
    """One request admitted to a batch: its prompt tokens and how many new tokens it may take."""

    index: int
    prompt: list[int]
    params: SamplingParams
    budget: int


class LocalBackend(InProcessBackend):
    """A transformers causal LM in this process; loaded by the worker thread on first use."""

    def _load_runtime(self) -> _Runtime:
        return _Runtime.load(self.config)

    def _run_batch(self, requests: list[Request]) -> list[Completion | Exception]:
        runtime = self.runtime()
        results: dict[int, Completion | Exception] = {}
        rows: list[_Row] = []
        for i, request in enumerate(requests):
            try:
                prompt = runtime.encode(request.messages)
            except Exception as exc:  # noqa: BLE001 - e.g. a chat template that rejects the roles
                results[i] = ItemError("bad_prompt", f"cannot build the prompt: {one_line(exc)}")
                continue
            room = runtime.context - len(prompt)
            if room < 1:
                results[i] = ItemError(
                    "context_length",
                    f"prompt has {len(prompt)} tokens; {self.model} takes at most {runtime.context}",
                )
                continue
            params = request.params
            if runtime.extra_stops:
                params = params.model_copy(update={"stop": params.stop + runtime.extra_stops})
            rows.append(_Row(i, prompt, params, min(params.max_tokens, room)))
        if rows:
            for row, completion in zip(rows, runtime.generate(rows, self.model), strict=True):
                results[row.index] = completion
        return [results[i] for i in range(len(requests))]


# --- the model ---------------------------------------------------------------------------------------


@dataclass
class _Runtime:
    model: Any  # transformers PreTrainedModel
    tokenizer: Any
    device: torch.device
    eos_ids: list[int]
    pad_id: int
    context: int
    extra_stops: tuple[str, ...] = ()

    @classmethod
    def load(cls, config: GeneratorConfig) -> _Runtime:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise FatalError(
                "missing_package", f"the local backend needs torch and transformers ({exc})"
            ) from None

        try:
            path = resolve_local_model(config.model)
        except AgorabenchError as exc:
            raise FatalError("model_unavailable", str(exc)) from None
        from transformers.utils import logging as transformers_logging

        # Its per-load "Loading weights" bars would tear through the engine's progress bar.
        transformers_logging.disable_progress_bar()
        device = torch.device(config.device or _best_device(torch))
        dtype = _pick_dtype(torch, config.dtype, device)
        if device.type == "cpu":
            _use_available_cores(torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        except Exception as exc:  # noqa: BLE001 - OSError (not found, offline), ValueError (not a causal LM)
            raise FatalError(
                "model_load", f"cannot load local model {config.model!r}: {one_line(exc)}"
            ) from None
        extra_stops: tuple[str, ...] = ()
        if config.prompt_template == "plain" or (config.prompt_template == "auto" and not tokenizer.chat_template):
            # A base model: the fixed plain format, and a stop where it would start the next turn.
            tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
            extra_stops = PLAIN_STOPS
        elif not tokenizer.chat_template:
            raise FatalError(
                "no_chat_template",
                f"{config.model!r} has no chat template (a base model?): use prompt_template: plain",
            )
        tokenizer.padding_side = "left"
        eos = model.generation_config.eos_token_id
        eos_ids = sorted({*(eos if isinstance(eos, list) else [eos] if eos is not None else [])})
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
            eos_ids.append(tokenizer.eos_token_id)
        if not eos_ids:
            raise FatalError("model_load", f"{config.model!r} declares no end-of-sequence token")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
        context = getattr(model.config, "max_position_embeddings", None) or 2048
        log.info("loaded %s on %s (%s), context %d", config.model, device, dtype, context)
        return cls(model, tokenizer, device, eos_ids, pad_id, context, extra_stops)

    def encode(self, messages: list[Message]) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False
        )
        # The template already writes any BOS it wants; adding special tokens again would double it.
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def generate(self, rows: list[_Row], model_name: str) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        width = max(len(r.prompt) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every row's next token sits in the last column
            input_ids[i, width - len(row.prompt) :] = torch.tensor(row.prompt)
            attention[i, width - len(row.prompt) :] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)

        sampler = _RowSampler([r.params for r in rows], input_ids, attention)
        stopper = _RowStopper(rows, width, self.eos_ids, self.tokenizer)
        settings = GenerationConfig(
            do_sample=False,  # our sampler already chose each token; greedy just reads its choice
            max_new_tokens=max(r.budget for r in rows),
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=settings,
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        completions = []
        for i, row in enumerate(rows):
            generated = output[i, width:].tolist()
            completions.append(self._completion(row, generated, stopper, i, model_name))
        return completions

    def _completion(
        self, row: _Row, generated: list[int], stopper: _RowStopper, i: int, model_name: str
    ) -> Completion:
        length = stopper.done_at[i] or len(generated)
        reason = stopper.reason[i] or "length"
        tokens = generated[:length]
        if reason == "eos":
            tokens = tokens[:-1]  # the EOS token is counted in usage but is not text
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        finish: FinishReason = "length" if reason == "length" else "stop"
        cut = _first_stop(text, row.params.stop)
        if cut is not None:
            text, finish = text[:cut], "stop"
        return Completion(
            text=text,
            finish_reason=finish,
            usage=Usage(prompt_tokens=len(row.prompt), completion_tokens=length),
            model=model_name,
        )


# --- per-row decoding inside one batch -----------------------------------------------------------------


class _RowSampler:
    """Chooses every row's next token with that row's own settings and random stream.

    A LogitsProcessor in all but name (generate only needs the call signature): it returns scores that
    are -inf except for the chosen token. Vectorised over rows; the only per-row Python work is one
    uniform draw per sampling row per step, from the row's generator, so a row's draws depend only
    on its seed and its own step count, never on its batch mates."""

    def __init__(self, params: list[SamplingParams], input_ids: torch.Tensor, attention: torch.Tensor):
        import torch

        device = input_ids.device
        self.temperature = torch.tensor([p.temperature for p in params], device=device)
        self.top_p = torch.tensor([p.top_p for p in params], device=device)
        self.penalty = torch.tensor([p.repetition_penalty for p in params], device=device)
        self.use_penalty = any(p.repetition_penalty != 1.0 for p in params)
        self.sampling = self.temperature > 0  # temperature 0 means argmax
        self.generators = [
            torch.Generator().manual_seed(_seed(p.seed))
            for p, s in zip(params, self.sampling.tolist(), strict=True)
            if s
        ]
        # The repetition penalty looks at the prompt too (as HF and vLLM do), but never at padding:
        # padding is this batch's business, so pad columns repeat the row's first real token instead.
        first_real = input_ids.gather(
            1, (attention == 0).sum(1, keepdim=True).clamp(max=input_ids.shape[1] - 1)
        )
        self.prompt_for_penalty = torch.where(attention.bool(), input_ids, first_real)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        scores = scores.float()
        if self.use_penalty:  # CTRL-style: shrink the logits of every token already seen
            seen = input_ids.clone()
            seen[:, : self.prompt_for_penalty.shape[1]] = self.prompt_for_penalty
            logits = scores.gather(1, seen)
            penalty = self.penalty[:, None]
            scores = scores.scatter(1, seen, torch.where(logits < 0, logits * penalty, logits / penalty))

        choice = scores.argmax(-1)
        if self.generators:
            rows = self.sampling.nonzero().squeeze(1)
            probs = torch.softmax(scores[rows] / self.temperature[rows, None], dim=-1)
            # Top-p: keep the most likely tokens until their mass reaches top_p (the first always stays).
            sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
            kept = (sorted_probs.cumsum(-1) - sorted_probs) < self.top_p[rows, None]
            cdf = (sorted_probs * kept).cumsum(-1)
            # Inverse-CDF draw with each row's own uniform number.
            uniform = torch.stack([torch.rand((), generator=g) for g in self.generators]).to(cdf.device)
            position = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True)
            position = torch.minimum(position, kept.sum(-1, keepdim=True) - 1)  # float edge: u*total == total
            choice[rows] = order.gather(1, position).squeeze(1)
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(1, choice[:, None], 0.0)


class _RowStopper:
    """Marks each row done at EOS, at its own max_tokens, or when a stop string appears.

    Records why and after how many new tokens, which generate() does not report per row."""

    def __init__(self, rows: list[_Row], prompt_width: int, eos_ids: list[int], tokenizer: Any):
        self.budgets = [r.budget for r in rows]
        self.stops = [tuple(s for s in r.params.stop if s) for r in rows]  # "" would match at once
        # A stop string of n bytes lies within the last n tokens (a token is at least one byte);
        # a little margin covers characters split across tokens.
        self.windows = [max((len(s.encode()) for s in stops), default=0) + 4 for stops in self.stops]
        self.prompt_width = prompt_width
        self.eos_ids = set(eos_ids)
        self.tokenizer = tokenizer
        self.done_at: list[int | None] = [None] * len(rows)
        self.reason: list[str | None] = [None] * len(rows)

    def __call__(self, input_ids: torch.Tensor, scores: Any = None, **kwargs: Any) -> torch.Tensor:
        import torch

        steps = input_ids.shape[1] - self.prompt_width
        last = input_ids[:, -1].tolist()
        for i, token in enumerate(last):
            if self.done_at[i] is not None:
                continue
            if token in self.eos_ids:
                self._finish(i, steps, "eos")
            elif self.stops[i] and self._stop_in_tail(input_ids[i], self.windows[i], self.stops[i]):
                self._finish(i, steps, "stop")
            elif steps >= self.budgets[i]:
                self._finish(i, steps, "length")
        done = [d is not None for d in self.done_at]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _finish(self, i: int, steps: int, reason: str) -> None:
        self.done_at[i], self.reason[i] = steps, reason

    def _stop_in_tail(self, ids: torch.Tensor, window: int, stops: tuple[str, ...]) -> bool:
        tail = ids[max(self.prompt_width, ids.shape[0] - window) :].tolist()
        text = self.tokenizer.decode(tail, skip_special_tokens=True)
        return any(s in text for s in stops)


# --- helpers -----------------------------------------------------------------------------------------------


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _seed(seed: int | None) -> int:
    if seed is None:  # no seed asked: a fresh random stream
        return random.SystemRandom().getrandbits(63)
    return seed % 2**64  # torch accepts 64-bit seeds; the engine may derive larger ones


def _best_device(torch: Any) -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _pick_dtype(torch: Any, name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return getattr(torch, name)
    # GPUs: bfloat16 (half the memory, tensor cores). CPUs: float32. bfloat16 was ~1.5x faster at
    # batch 8 on the dev CPU (avx512_bf16), but its rounding makes logits depend on the padding, i.e.
    # on the batch mates: a seeded request gave the same text alone and in a batch 6/6 times in
    # float32 and 0/6 in bfloat16 (48 tokens). Reproducible seeds matter more here than speed.
    # (On GPUs the same caveat applies in bfloat16: set dtype: float32 where exact reruns matter.)
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _use_available_cores(torch: Any) -> None:
    # torch picks its thread count from the machine's cores, which can exceed what this process may
    # use (CPU affinity in containers); more threads than cores makes every step slower.
    if os.environ.get("OMP_NUM_THREADS"):
        return  # the user decided
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        available = os.cpu_count() or 1
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)

