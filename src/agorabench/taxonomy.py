"""The AgoraBench taxonomy in one place: the generation methods, the domains, their short names and aliases.

Adding a method or a domain starts here (docs/architecture.md lists the other files). Every list of methods
or domains elsewhere is derived from these tuples, so the order here is the order of every table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MethodInfo:
    name: str  # the long name used in configs, records and results.json
    short: str  # the paper's abbreviation, used in tables and `RG/math` settings
    marker: str  # matplotlib marker in the analysis plots
    description: str


@dataclass(frozen=True)
class DomainInfo:
    name: str
    label: str  # for reports
    color: str  # matplotlib colour in the analysis plots
    aliases: tuple[str, ...] = ()


METHOD_INFO: tuple[MethodInfo, ...] = (
    MethodInfo("instance_generation", "IG", "o", "few-shot from seeds: a new instruction and its response"),
    MethodInfo("response_generation", "RG", "s", "an instruction in, its response out"),
    MethodInfo("quality_enhancement", "QE", "^", "an (instruction, response) pair in, an improved pair out"),
)
DOMAIN_INFO: tuple[DomainInfo, ...] = (
    DomainInfo("math", "math", "tab:blue"),
    DomainInfo("code", "code", "tab:orange"),
    DomainInfo("general", "instruction following", "tab:green", aliases=("instruction_following",)),
)

METHODS: tuple[str, ...] = tuple(m.name for m in METHOD_INFO)
DOMAINS: tuple[str, ...] = tuple(d.name for d in DOMAIN_INFO)
METHOD_SHORT: dict[str, str] = {m.name: m.short for m in METHOD_INFO}
METHOD_MARKERS: dict[str, str] = {m.name: m.marker for m in METHOD_INFO}
DOMAIN_COLORS: dict[str, str] = {d.name: d.color for d in DOMAIN_INFO}
SETTINGS: tuple[tuple[str, str], ...] = tuple((m, d) for m in METHODS for d in DOMAINS)

# Typed fields (pydantic reads Literal over a tuple as the tuple's members).
Method = Literal[METHODS]  # type: ignore[valid-type]
Domain = Literal[DOMAINS]  # type: ignore[valid-type]

_METHOD_ALIASES = {m.name: m.name for m in METHOD_INFO} | {m.short.lower(): m.name for m in METHOD_INFO}
_DOMAIN_ALIASES = {d.name: d.name for d in DOMAIN_INFO} | {a: d.name for d in DOMAIN_INFO for a in d.aliases}


def method_name(text: str) -> str | None:
    """The long method name for a long name or a short one (any case), else None."""
    return _METHOD_ALIASES.get(text.strip().lower())


def domain_name(text: str) -> str | None:
    """The domain for its name or an alias (any case), else None."""
    return _DOMAIN_ALIASES.get(text.strip().lower())


def parse_setting(text: str) -> tuple[str, str]:
    """'response_generation/math', 'RG/math' or 'rg-math' -> (method, domain); ValueError otherwise."""
    for sep in ("/", "-", ":"):
        if sep in text:
            method_text, domain_text = text.split(sep, 1)
            break
    else:
        raise ValueError(f"setting {text!r} is not METHOD/DOMAIN (e.g. response_generation/math or RG/math)")
    method, domain = method_name(method_text), domain_name(domain_text)
    if method is None or domain is None:
        shorts = "/".join(METHOD_SHORT.values())
        raise ValueError(
            f"setting {text!r}: methods are {', '.join(METHODS)} (or {shorts}), domains {', '.join(DOMAINS)}"
        )
    return method, domain


def setting_label(method: str, domain: str) -> str:
    """'RG math': how tables name a setting."""
    return f"{METHOD_SHORT[method]} {domain}"
