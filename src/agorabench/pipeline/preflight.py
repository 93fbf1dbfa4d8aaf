"""What a run checks before it starts any stage: that every generator has an endpoint, and that each setting's
seeds hold the inputs the run asks for.

Response generation and quality enhancement make one instance per seed input, so a run asking for 10,000
instances from a source of 500 inputs would quietly produce 500. `check_inputs` refuses that when the run is
planned (one line: how many there are, how to fix it) unless `generation.allow_fewer` is set; the dry run
shows the counts. Counts are of the mapped seed rows before deduplication and decontamination (which the
generation stage applies while it draws, and reports in its metadata).
"""

from __future__ import annotations

from dataclasses import dataclass

from agorabench.data.seeds import SeedSource, load_seeds
from agorabench.errors import AgorabenchError, ConfigError
from agorabench.generation.settings.methods import METHODS
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.registry import backend_spec
from agorabench.pipeline.config import RunConfig


@dataclass(frozen=True)
class SettingInputs:
    method: str
    domain: str
    needed: int  # the run's `instances`
    available: int | None  # None: unknown (the source could not be read: `problem` says why)
    problem: str | None = None

    @property
    def short(self) -> bool:
        return self.available is not None and self.available < self.needed


def seed_sources(config: RunConfig, method: str, domain: str) -> list[SeedSource]:
    return config.generation.seeds.get(f"{method}/{domain}") or [SeedSource(source="agorabench")]


def count_inputs(config: RunConfig) -> list[SettingInputs]:
    """Inputs per setting that draws inputs (RG, QE) and runs (its domain has benchmarks), in the run's order."""
    counted = []
    domains = config.domains()
    for method, domain in config.setting_pairs():
        task_class = METHODS[method]
        if not task_class.draws_inputs or domain not in domains:
            continue
        try:
            rows = load_seeds(seed_sources(config, method, domain), method, domain)
        except AgorabenchError as exc:
            counted.append(SettingInputs(method, domain, config.instances, None, str(exc)))
            continue
        available = sum(1 for row in rows if task_class.is_input(row))
        counted.append(SettingInputs(method, domain, config.instances, available))
    return counted


def check_inputs(config: RunConfig, counted: list[SettingInputs] | None = None) -> list[SettingInputs]:
    """The counts, or a ConfigError (one line) for the first setting that cannot be read or is short."""
    counted = count_inputs(config) if counted is None else counted
    for entry in counted:
        setting = f"{entry.method}/{entry.domain}"
        if entry.available is None:
            raise ConfigError(f"generation.seeds.{setting}: {entry.problem}")
        if entry.short and not config.generation.allow_fewer:
            raise ConfigError(
                f"generation.seeds.{setting}: the seeds hold {entry.available} inputs, fewer than instances "
                f"({entry.needed}); add seed sources for it, lower instances, or set generation.allow_fewer: true"
            )
    return counted


def needs_endpoint(generator: GeneratorConfig) -> bool:
    """A remote generator with no URL to send to (an open-weight preset the user serves)."""
    return backend_spec(generator.backend).remote and not generator.base_urls


def check_endpoints(generators: list[GeneratorConfig]) -> None:
    for generator in generators:
        if needs_endpoint(generator):
            raise ConfigError(
                f"generator {generator.name!r} needs base_urls: the OpenAI-compatible endpoint serving "
                f"{generator.model} (vLLM, SGLang, llama.cpp), e.g. base_urls: [http://HOST:8000/v1]"
            )


def check_tokenizer(config: RunConfig) -> None:
    """Generation counts each instance's token budget with the student's tokenizer: one that cannot be loaded
    (a gated Hub model without HF_TOKEN, offline and not cached) would fail every generation stage."""
    from agorabench.data.hub import hub_reachable
    from agorabench.generation.settings.base import token_counter

    hub_reachable()  # offline: a cache miss fails at once
    try:
        token_counter(config.student.base)
    except Exception as exc:  # noqa: BLE001 - gated, missing, offline: one line for the user
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(
            f"student.base: its tokenizer ({config.student.base}), which counts generation's token budget, cannot "
            f"be loaded ({reason}); for a gated model set HF_TOKEN to a token with access"
        ) from None


def preflight(config: RunConfig, generators: list[GeneratorConfig]) -> list[SettingInputs]:
    """Refuse, in one line, a run that cannot do what it says; before any stage runs."""
    check_endpoints(generators)
    counted = check_inputs(config)
    if config.setting_pairs():
        check_tokenizer(config)
    return counted
