"""Builds the engine task for one of the nine settings."""

from __future__ import annotations

from typing import Any

from agorabench.data.seeds import load_seeds
from agorabench.errors import AgorabenchError
from agorabench.generation.settings.base import SettingTask, template_digests
from agorabench.generation.settings.config import SettingConfig
from agorabench.generation.settings.methods import METHODS
from agorabench.generation.settings.schemas import python_fields, schema_digest
from agorabench.generation.settings.themes import themes_digest
from agorabench.generation.validators import VALIDATORS_VERSION

__all__ = ["METHODS", "build_setting", "setting_fingerprint"]


def build_setting(config: SettingConfig, n: int | None, seed: int) -> SettingTask:
    seeds = load_seeds(config.seeds, config.method, config.domain)
    try:
        return METHODS[config.method](config, seeds, n, seed)
    except ValueError as exc:
        raise AgorabenchError(f"{config.method}/{config.domain}: {exc}") from None


# Bump when the settings' code changes what a setting asks for (which inputs, how prompts are filled); template
# edits need no bump (they are hashed). 2: RG/QE draw `instances` inputs without replacement, seeded.
SETTINGS_VERSION = "2"


def setting_fingerprint(method: str, domain: str) -> dict[str, Any]:
    """What a setting's outputs depend on besides its config: the templates it renders (file digests), the
    validators' version, the JSON format's output schema (digest) and, for methods that draw themes, the
    themes. The pipeline puts it in the generation stage's key, so an edit reruns exactly the settings it
    touches."""
    fingerprint: dict[str, Any] = {
        "templates": template_digests(method, domain), "validators": VALIDATORS_VERSION, "settings": SETTINGS_VERSION,
        "schema": schema_digest(schema := METHODS[method].output_schema(domain)),
    }
    if fields := python_fields(schema):  # the local backend's grammar for them changes what it writes
        fingerprint["python_fields"] = list(fields)
    if METHODS[method].draws_themes:
        fingerprint["themes"] = themes_digest(domain)
    return fingerprint
