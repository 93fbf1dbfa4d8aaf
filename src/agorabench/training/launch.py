"""Multi-process training through `accelerate launch`: DDP, FSDP2 or DeepSpeed ZeRO-3 from configs kept
in this package (training/accelerate/*.yaml), or any accelerate config file.

`agorabench train --launch fsdp --num-processes 4 ...` re-runs the same `agorabench train` command under
`accelerate launch`; each process then trains through TRL's SFTTrainer, which reads the distributed
setup from the environment accelerate prepares. Nothing here replaces accelerate: it only finds the config
and builds the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agorabench.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "accelerate"


def builtin_launch_configs() -> list[str]:
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def resolve_launch_config(spec: str) -> Path:
    """A built-in config name (fsdp, deepspeed_zero3, multi_gpu, multi_cpu) or a path to an accelerate YAML."""
    builtin = CONFIG_DIR / f"{spec}.yaml"
    if builtin.is_file():
        return builtin
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    raise ConfigError(
        f"unknown launch config {spec!r}: give one of {', '.join(builtin_launch_configs())} or an accelerate YAML file"
    )


def inside_launcher() -> bool:
    """True in a process started by accelerate/torchrun (which set the distributed environment)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def launch_command(config: Path, train_args: list[str], num_processes: int | None = None) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    if num_processes is not None:
        command += ["--num_processes", str(num_processes)]
    return [*command, "-m", "agorabench", "train", *train_args]


def run_launched(config: Path, train_args: list[str], num_processes: int | None = None) -> int:
    """Run `agorabench train` under accelerate launch; the exit status of the launch."""
    if config.read_text().find("DEEPSPEED") >= 0:
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise ConfigError(f"{config.name} uses DeepSpeed: run `pip install deepspeed` first") from None
    return subprocess.call(launch_command(config, train_args, num_processes))
