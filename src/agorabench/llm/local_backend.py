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

import functools
import inspect
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
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
from agorabench.llm.batching import Ticket
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.embedded import resolve_local_model
from agorabench.llm.grammar import GrammarError, RowGrammar, compile_schema, within_budget
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
    # The request's JSON schema as a grammar over the vocabulary (`params.json_schema`); None: unconstrained.
    grammar: RowGrammar | None = None


class LocalBackend(InProcessBackend):
    """A transformers causal LM in this process; loaded by the worker thread on first use."""

    continuous = True  # requests join the running decode as others finish (`_serve`)
    # The path before issue 14, kept for benchmarks/local_generation.py and the tests that compare with it:
    # one HF generate() per batch (a subclass sets this and continuous = False).
    hf_generate = False

    def _load_runtime(self) -> _Runtime:
        return _Runtime.load(self.config)

    def _run_batch(self, requests: list[Request]) -> list[Completion | Exception]:
        rows, results = self._admit(requests)
        if rows and self.hf_generate:
            for row, completion in zip(rows, self.runtime().generate(rows, self.model), strict=True):
                results[row.index] = completion
        elif rows:
            self.runtime().decode(rows, self.model, lambda row, completion: results.__setitem__(row.index, completion))
        return [results[i] for i in range(len(requests))]

    def _serve(self, tickets: list[Ticket[Request, Completion]], more: Callable[[int], list[Ticket]]) -> None:
        owners: dict[int, Ticket[Request, Completion]] = {}  # id(row) -> its request's ticket

        def admit(batch: list[Ticket[Request, Completion]]) -> list[_Row]:
            rows, failed = self._admit([t.request for t in batch])
            for i, error in failed.items():
                batch[i].settle(error)
            owners.update((id(row), batch[row.index]) for row in rows)
            return rows

        def finished(row: _Row, result: Completion | Exception) -> None:
            owners.pop(id(row)).settle(result)

        self.runtime().decode(
            admit(tickets),
            self.model,
            finished,
            more=lambda room: admit(more(room)),
            room=self.max_batch_size,
            gave_up=lambda row: owners[id(row)].cancelled,
        )

    def _admit(self, requests: list[Request]) -> tuple[list[_Row], dict[int, Completion | Exception]]:
        """The requests to decode as rows (`_Row.index`: the position in `requests`), and by position the
        errors of those that cannot be."""
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
            budget, grammar = min(params.max_tokens, room), None
            if params.json_schema is not None:
                try:
                    schema = within_budget(params.json_schema, budget)  # so that the object ends in budget
                    compiled = compile_schema(runtime.tokenizer, schema, runtime.eos_ids, params.python_fields or ())
                    grammar = compiled.matcher(budget)
                except GrammarError as exc:
                    results[i] = ItemError("bad_schema", f"cannot enforce the JSON schema: {one_line(exc)}")
                    continue
                except ImportError as exc:
                    raise FatalError(
                        "missing_package", f"structured output on the local backend needs llguidance ({exc})"
                    ) from None
            rows.append(_Row(i, prompt, params, budget, grammar))
        return rows, results


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
    # What the model's forward() takes: the KV cache's keyword (transformers 5 renamed past_key_values)
    # and whether it can skip the logits of all but the last position.
    cache_keyword: str = field(init=False, default="past_key_values")
    last_logits_only: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        accepted = inspect.signature(self.model.forward).parameters
        self.cache_keyword = "cache" if "cache" in accepted else "past_key_values"
        self.last_logits_only = "logits_to_keep" in accepted

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

        input_ids, attention = self._left_padded(rows)
        width = input_ids.shape[1]
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)

        sampler = _RowSampler([r.params for r in rows], input_ids, attention, [r.grammar for r in rows])
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
            length = stopper.done_at[i] or len(generated)
            completions.append(self._completion(row, generated[:length], stopper.reason[i] or "length", model_name))
        return completions

    def _completion(self, row: _Row, tokens: list[int], reason: str, model_name: str) -> Completion:
        """The row's result from its new tokens (the EOS included) and why it ended (eos, stop, length)."""
        length = len(tokens)
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

    def decode(
        self,
        rows: list[_Row],
        model_name: str,
        finished: Callable[[_Row, Completion | Exception], None],
        *,
        more: Callable[[int], list[_Row]] | None = None,
        room: int = 0,
        gave_up: Callable[[_Row], bool] | None = None,
    ) -> None:
        """Decode `rows`, calling `finished(row, result)` as soon as each one ends.

        One prefill per group of new rows, then one forward per step for the whole batch on its KV cache;
        a finished row leaves the batch at once. With `more`, up to `room` rows decode together: whenever
        a row has left, `more(free)` may hand new rows, which are prefilled and join the running batch
        (continuous batching; only where the cache allows it, see `_Batch.joinable`, else they start when
        the batch is empty). A row whose caller `gave_up` leaves without a result."""
        import torch

        batch: _Batch | None = None
        waiting = rows
        with torch.inference_mode():
            while True:
                if waiting:
                    group = self._prefill(waiting)
                    batch = group if batch is None else batch.join(group)
                    waiting = []
                if batch is None:
                    return
                staying = []
                for j, (state, token) in enumerate(zip(batch.states, batch.choose().tolist(), strict=True)):
                    reason = state.add(token, self)
                    if reason is not None:
                        finished(state.row, self._completion(state.row, state.tokens, reason, model_name))
                    elif gave_up is not None and gave_up(state.row):
                        finished(state.row, ItemError("cancelled", "the caller gave up"))
                    else:
                        staying.append(j)
                if len(staying) < len(batch.states):
                    batch = batch.keep(staying) if staying else None
                free = room - (len(batch.states) if batch is not None else 0)
                if more is not None and free > 0 and (batch is None or batch.joinable):
                    waiting = more(free)
                if batch is not None:
                    batch.forward()

    def _left_padded(self, rows: list[_Row]) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' prompts as one left-padded batch (every row's next token in the last column) and its
        attention mask, on the CPU."""
        import torch

        width = max(len(r.prompt) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row.prompt) :] = torch.tensor(row.prompt)
            attention[i, width - len(row.prompt) :] = 1
        return input_ids, attention

    def _prefill(self, rows: list[_Row]) -> _Batch:
        """The rows' prompts through the model at once (left-padded), as a batch ready to choose."""
        import torch

        input_ids, attention = self._left_padded(rows)
        # The history the sampler sees repeats each row's first token over its padding (penalty-neutral).
        first = torch.tensor([r.prompt[0] if r.prompt else self.pad_id for r in rows])[:, None]
        history = torch.where(attention.bool(), input_ids, first)
        positions = (attention.cumsum(-1) - 1).masked_fill(attention == 0, 1)  # as generate() numbers them
        input_ids, attention, history, positions = (
            t.to(self.device) for t in (input_ids, attention, history, positions)
        )
        cache = _new_cache(self.model)
        extra = {"logits_to_keep": 1} if self.last_logits_only else {}
        output = self.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            **{self.cache_keyword: cache},
            **extra,
        )
        sampler = _RowSampler([r.params for r in rows], history, None, [r.grammar for r in rows])
        states = [_Decoding(r) for r in rows]
        return _Batch(
            self, states, cache, attention, history, positions[:, -1:] + 1, output.logits[:, -1, :], sampler
        )


# --- per-row decoding inside one batch -----------------------------------------------------------------


class _RowSampler:
    """Chooses every row's next token with that row's own settings and random stream.

    A LogitsProcessor in all but name (generate only needs the call signature): it returns scores that
    are -inf except for the chosen token. Vectorised over rows; the only per-row Python work is one
    uniform draw per sampling row per step, from the row's generator, so a row's draws depend only
    on its seed and its own step count, never on its batch mates.

    A row with a grammar (a JSON schema, `llm/grammar.py`) first has every token its grammar forbids set
    to -inf, then its choice advances the grammar; once the object is complete only EOS is left. Rows
    without one are not touched, so their outputs are what they would be without constrained batch mates.

    The decode loop drops finished rows (`keep`) and adds joining ones (`extend`): every per-row field
    must be sliced in the one and joined in the other."""

    # Top-p sorts this many of the most likely tokens, not the whole vocabulary (see `_top_p_draw`);
    # None: the whole vocabulary, as before issue 14 (the HF generate() path keeps that).
    candidates: int | None = 1024

    def __init__(
        self,
        params: list[SamplingParams],
        input_ids: torch.Tensor,
        attention: torch.Tensor | None,
        grammars: list[RowGrammar | None] | None = None,
    ):
        import torch

        # (row, grammar) of the constrained rows only.
        self.grammars = [(i, g) for i, g in enumerate(grammars or ()) if g is not None]

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
        # (attention None: the caller's input_ids already do so, as the decode loop's history does.)
        self.prompt_for_penalty: torch.Tensor | None = None
        if attention is not None:
            first_real = input_ids.gather(
                1, (attention == 0).sum(1, keepdim=True).clamp(max=input_ids.shape[1] - 1)
            )
            self.prompt_for_penalty = torch.where(attention.bool(), input_ids, first_real)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        scores = scores.float()
        if self.use_penalty:  # CTRL-style: shrink the logits of every token already seen
            seen = input_ids
            if self.prompt_for_penalty is not None:
                seen = input_ids.clone()
                seen[:, : self.prompt_for_penalty.shape[1]] = self.prompt_for_penalty
            logits = scores.gather(1, seen)
            penalty = self.penalty[:, None]
            scores = scores.scatter(1, seen, torch.where(logits < 0, logits * penalty, logits / penalty))
        forbidden = None
        if self.grammars:  # what each constrained row's grammar forbids next is out of the draw
            forbidden = torch.zeros(scores.shape, dtype=torch.bool)
            for i, grammar in self.grammars:
                forbidden[i] = ~grammar.allowed(scores.shape[1])
            forbidden = forbidden.to(scores.device)
            scores = scores.masked_fill(forbidden, float("-inf"))

        choice = scores.argmax(-1)
        if self.generators:
            rows = self.sampling.nonzero().squeeze(1)
            probs = torch.softmax(scores[rows] / self.temperature[rows, None], dim=-1)
            # Inverse-CDF draw from the top-p nucleus with each row's own uniform number.
            uniform = torch.stack([torch.rand((), generator=g) for g in self.generators]).to(probs.device)
            choice[rows] = _top_p_draw(probs, self.top_p[rows], uniform, self.candidates)
        if forbidden is not None:
            # A draw's float edge (u * total == total) may land on a zero-probability token: never a forbidden one.
            slipped = forbidden.gather(1, choice[:, None]).squeeze(1)
            choice = torch.where(slipped, scores.argmax(-1), choice)
            chosen = choice.tolist()
            for i, grammar in self.grammars:
                grammar.advance(chosen[i])
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(1, choice[:, None], 0.0)

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows, in this order (the others left the batch)."""
        import torch

        index = torch.tensor(rows, dtype=torch.long, device=self.temperature.device)
        generator_of = dict(zip(self.sampling.nonzero().squeeze(1).tolist(), self.generators, strict=True))
        self.generators = [generator_of[r] for r in rows if r in generator_of]
        new_position = {old: new for new, old in enumerate(rows)}
        self.grammars = [(new_position[i], g) for i, g in self.grammars if i in new_position]
        self.temperature, self.top_p, self.penalty = self.temperature[index], self.top_p[index], self.penalty[index]
        self.sampling = self.sampling[index]
        self.use_penalty = bool((self.penalty != 1.0).any())
        if self.prompt_for_penalty is not None:
            self.prompt_for_penalty = self.prompt_for_penalty[index]

    def extend(self, other: _RowSampler) -> None:
        """Add the rows of `other` (rows joining the batch) after this one's."""
        import torch

        if self.prompt_for_penalty is not None or other.prompt_for_penalty is not None:
            raise ValueError("only samplers built with attention=None can be joined (their padding differs)")
        count = len(self.temperature)
        self.grammars = self.grammars + [(count + i, g) for i, g in other.grammars]
        self.generators = self.generators + other.generators  # sampling rows in row order, as before
        self.temperature = torch.cat([self.temperature, other.temperature])
        self.top_p = torch.cat([self.top_p, other.top_p])
        self.penalty = torch.cat([self.penalty, other.penalty])
        self.sampling = torch.cat([self.sampling, other.sampling])
        self.use_penalty = self.use_penalty or other.use_penalty


class _RowStopper:
    """Marks each row done at EOS, at its own max_tokens, or when a stop string appears.

    Records why and after how many new tokens, which generate() does not report per row."""

    def __init__(self, rows: list[_Row], prompt_width: int, eos_ids: list[int], tokenizer: Any):
        self.budgets = [r.budget for r in rows]
        rules = [_stop_rules(r.params) for r in rows]
        self.stops, self.windows = [stops for stops, _ in rules], [window for _, window in rules]
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


# --- the decode loop's batch ----------------------------------------------------------------------------


class _Decoding:
    """A row in the decode loop: its new tokens so far, and what ends it (as `_RowStopper` decides)."""

    __slots__ = ("row", "tokens", "stops", "window")

    def __init__(self, row: _Row):
        self.row = row
        self.tokens: list[int] = []
        self.stops, self.window = _stop_rules(row.params)

    def add(self, token: int, runtime: _Runtime) -> str | None:
        """Take the row's next token; why the row ends with it (eos, stop, length), or None."""
        self.tokens.append(token)
        if token in runtime.eos_ids:
            return "eos"
        if self.stops:
            tail = runtime.tokenizer.decode(self.tokens[-self.window :], skip_special_tokens=True)
            if any(s in tail for s in self.stops):
                return "stop"
        return "length" if len(self.tokens) >= self.row.budget else None


class _Batch:
    """Rows decoding together, left-padded to one length: a column is a position of the KV cache.

    `attention` marks each row's real positions; `history` holds its tokens (the row's first token over
    its padding, so the sampler's repetition penalty never sees the padding), one column ahead of the
    cache while a chosen token waits for `forward`; `positions` is each row's next position id;
    `logits` its next-token logits, read by `choose`."""

    def __init__(
        self,
        runtime: _Runtime,
        states: list[_Decoding],
        cache: Any,
        attention: torch.Tensor,
        history: torch.Tensor,
        positions: torch.Tensor,
        logits: torch.Tensor,
        sampler: _RowSampler,
    ):
        self.runtime, self.states, self.cache, self.sampler = runtime, states, cache, sampler
        self.attention, self.history, self.positions, self.logits = attention, history, positions, logits
        self.chosen: torch.Tensor | None = None
        # Rows can join, and padding be trimmed, only where every cache layer is a _growing_layer (full
        # attention); sliding-window and other caches keep their rows until the batch is done.
        layers = getattr(cache, "layers", None) or ()
        self.joinable = bool(layers) and all(isinstance(layer, _growing_layer()) for layer in layers)

    def choose(self) -> torch.Tensor:
        """Every row's next token (the sampler's choice), appended to the history."""
        import torch

        self.chosen = self.sampler(self.history, self.logits).argmax(-1)
        self.history = torch.cat([self.history, self.chosen[:, None]], dim=1)
        return self.chosen

    def keep(self, rows: list[int]) -> _Batch:
        """Only these rows stay (after `choose`); columns that are padding for all of them go."""
        import torch

        assert self.chosen is not None
        index = torch.tensor(rows, dtype=torch.long, device=self.attention.device)
        self.states = [self.states[j] for j in rows]
        self.cache.batch_select_indices(index)
        self.attention, self.history = self.attention[index], self.history[index]
        self.positions, self.chosen = self.positions[index], self.chosen[index]
        self.sampler.keep(rows)
        lead = int(self.attention.any(0).int().argmax())  # the first column a remaining row uses
        if lead and self.joinable:
            for layer in self.cache.layers:
                layer.drop_front(lead)
            self.attention, self.history = self.attention[:, lead:], self.history[:, lead:]
        return self

    def forward(self) -> None:
        """Feed every row's chosen token to the model: the next logits."""
        import torch

        runtime = self.runtime
        self.attention = torch.cat([self.attention, self.attention.new_ones((len(self.states), 1))], dim=1)
        output = runtime.model(
            input_ids=self.chosen[:, None],
            attention_mask=self.attention,
            position_ids=self.positions,
            use_cache=True,
            **{runtime.cache_keyword: self.cache},
        )
        self.logits, self.positions, self.chosen = output.logits[:, -1, :], self.positions + 1, None

    def join(self, other: _Batch) -> _Batch:
        """`other`'s rows after these (both ready to choose), the shorter side left-padded."""
        import torch

        width = max(self.attention.shape[1], other.attention.shape[1])
        mine, theirs = width - self.attention.shape[1], width - other.attention.shape[1]
        for layer, joining in zip(self.cache.layers, other.cache.layers, strict=True):
            layer.stack(joining, mine, theirs)
        self.attention = torch.cat([_pad_left(self.attention, mine, 0), _pad_left(other.attention, theirs, 0)])
        self.history = torch.cat([_pad_left(self.history, mine), _pad_left(other.history, theirs)])
        self.positions = torch.cat([self.positions, other.positions])
        self.logits = torch.cat([self.logits, other.logits])
        self.states = self.states + other.states
        self.sampler.extend(other.sampler)
        return self


def _pad_left(columns: torch.Tensor, count: int, value: int | None = None) -> torch.Tensor:
    """`count` columns more on the left: `value`, or (None) each row's first column repeated."""
    import torch

    if count == 0:
        return columns
    if value is None:
        fill = columns[:, :1].expand(-1, count)
    else:
        fill = columns.new_full((columns.shape[0], count), value)
    return torch.cat([fill, columns], dim=1)


def _new_cache(model: Any) -> Any:
    """An empty KV cache for `model`: `_growing_layer`s where every layer is a plain DynamicLayer."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        cache = DynamicCache(config=model.config)  # the layer kinds (full, sliding window) from the config
    except TypeError:  # older transformers: plain layers, made on first use
        return DynamicCache()
    layers = getattr(cache, "layers", None)
    if layers and all(type(layer) is DynamicLayer for layer in layers):
        cache.layers = [_growing_layer()() for _ in layers]
    return cache


@functools.cache
def _growing_layer() -> type:
    """The class of a DynamicLayer that keeps room past its last position (made on first use: it needs
    transformers). A step writes its column in place, where DynamicLayer concatenates, i.e. copies each
    layer's whole cache at every step; `keys` and `values` are views of the filled positions."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            used, new = self.get_seq_length(), key_states.shape[-2]
            if self.buffers is None or used + new > self.buffers[0].shape[-2]:
                self._reserve(key_states, value_states, used, used + new)
            keys, values = self.buffers
            keys[:, :, used : used + new] = key_states
            values[:, :, used : used + new] = value_states
            self.keys, self.values = keys[:, :, : used + new], values[:, :, : used + new]
            return self.keys, self.values

        def _reserve(self, key_states: torch.Tensor, value_states: torch.Tensor, used: int, length: int) -> None:
            capacity = length + max(64, length // 2)
            keys = key_states.new_empty((*key_states.shape[:2], capacity, key_states.shape[3]))
            values = value_states.new_empty((*value_states.shape[:2], capacity, value_states.shape[3]))
            if used:
                keys[:, :, :used], values[:, :, :used] = self.keys, self.values
            self.buffers = (keys, values)

        def _view(self, keys: torch.Tensor, values: torch.Tensor, used: int) -> None:
            self.buffers = (keys, values)
            self.keys, self.values = keys[:, :, :used], values[:, :, :used]

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.buffers is not None:
                used = self.get_seq_length()
                self._view(self.buffers[0][indices], self.buffers[1][indices], used)

        def drop_front(self, count: int) -> None:
            """Forget the first `count` positions (padding for every row)."""
            assert self.buffers is not None
            used = self.get_seq_length()
            self._view(self.buffers[0][:, :, count:], self.buffers[1][:, :, count:], used - count)

        def stack(self, other: GrowingLayer, pad_mine: int, pad_theirs: int) -> None:
            """`other`'s rows after these; each side's positions shifted right by its pad (zeros)."""
            length = self.get_seq_length() + pad_mine
            mine = self.keys.shape[0]
            merged = []
            for a, b in ((self.keys, other.keys), (self.values, other.values)):
                shape = (mine + b.shape[0], a.shape[1], length + max(64, length // 2), a.shape[3])
                out = a.new_zeros(shape)
                out[:mine, :, pad_mine:length] = a
                out[mine:, :, pad_theirs:length] = b
                merged.append(out)
            self._view(merged[0], merged[1], length)

    return GrowingLayer


def _stop_rules(params: SamplingParams) -> tuple[tuple[str, ...], int]:
    """A row's stop strings ("" would match at once) and how many last tokens can hold one: a stop string
    of n bytes lies within the last n tokens (a token is at least one byte), plus a margin for characters
    split across tokens."""
    stops = tuple(s for s in params.stop if s)
    return stops, max((len(s.encode()) for s in stops), default=0) + 4


# --- helpers -----------------------------------------------------------------------------------------------


def _top_p_draw(
    probs: torch.Tensor, top_p: torch.Tensor, uniform: torch.Tensor, candidates: int | None
) -> torch.Tensor:
    """Each row's token by an inverse-CDF draw with its `uniform` number from its top-p nucleus: the most
    likely tokens until their mass reaches top_p (the first always stays), ties in token-id order.

    Sorting the whole vocabulary (49k tokens for SmolLM2) took about as long as the model's step at
    batch 8, so only the `candidates` most likely tokens are sorted; a row whose nucleus they may not
    hold (its least likely candidate as likely as its last kept token) tries 8 times as many, then the
    whole vocabulary. Every try gives the same token: the kept prefix, its running sums and the search
    only read the first tokens of the sorted order, and the candidates sorted the same way are those."""
    import torch

    choice = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    todo = torch.arange(probs.shape[0], device=probs.device)
    while True:
        if candidates is None or candidates >= probs.shape[-1]:
            everything = torch.sort(probs[todo], dim=-1, descending=True, stable=True)
            choice[todo] = _draw(*everything, top_p[todo], uniform[todo])[0]
            return choice
        values, tokens = probs[todo].topk(candidates, dim=-1, sorted=False)
        tokens, by_id = tokens.sort(dim=-1)  # then a stable sort by probability breaks ties by token id
        values, order = values.gather(1, by_id).sort(dim=-1, descending=True, stable=True)
        drawn, last_kept = _draw(values, tokens.gather(1, order), top_p[todo], uniform[todo])
        unsure = values[:, -1] >= last_kept  # a token outside the candidates could be in the nucleus
        choice[todo[~unsure]] = drawn[~unsure]
        if not unsure.any():
            return choice
        todo, candidates = todo[unsure], candidates * 8


def _draw(
    sorted_probs: torch.Tensor, order: torch.Tensor, top_p: torch.Tensor, uniform: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The drawn token of each row, from probabilities sorted in descending order (`order`: their tokens),
    and the probability of each row's last kept token."""
    import torch

    kept = (sorted_probs.cumsum(-1) - sorted_probs) < top_p[:, None]
    cdf = (sorted_probs * kept).cumsum(-1)
    position = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True)
    last = kept.sum(-1, keepdim=True) - 1
    position = torch.minimum(position, last)  # float edge: u*total == total
    return order.gather(1, position).squeeze(1), sorted_probs.gather(1, last).squeeze(1)


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

