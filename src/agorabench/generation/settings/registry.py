"""Builds the engine task for one of the nine settings."""

from __future__ import annotations

from agorabench.data.seeds import load_seeds
from agorabench.errors import AgorabenchError
from agorabench.generation.settings.base import SettingTask
from agorabench.generation.settings.config import SettingConfig
from agorabench.generation.settings.methods import METHODS

__all__ = ["METHODS", "build_setting"]


def build_setting(config: SettingConfig, n: int | None, seed: int) -> SettingTask:
    seeds = load_seeds(config.seeds, config.method, config.domain)
    try:
        return METHODS[config.method](config, seeds, n, seed)
    except ValueError as exc:
        raise AgorabenchError(f"{config.method}/{config.domain}: {exc}") from None
