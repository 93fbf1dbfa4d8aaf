"""Engine throughput against the fake OpenAI-compatible server: how close to ideal, at what CPU cost.

    python benchmarks/engine_throughput.py            # full table (~3 minutes)
    python benchmarks/engine_throughput.py --quick    # 256 in flight at 1 s only

The server runs pinned to core 0 with a fixed service latency; each client runs in its own process
pinned to core 1. Ideal throughput is in_flight / latency. Steady state: the rate between the 10th and
90th percentile completion times of a run with 10x as many requests as in flight. Client CPU is the
client process's user+system time divided by requests. The thread-pool client (one blocking `openai`
client call per thread, the original AgoraBench design) runs at the same width for comparison.
The last line is read by tooling: `engine: <fraction> of ideal at 256 in flight`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, CLIENT_CORE = 0, 1


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > core:
        os.sched_setaffinity(0, {core})


def steady_rate(times: list[float]) -> float:
    times = sorted(times)
    lo, hi = times[len(times) // 10], times[(len(times) * 9) // 10]
    count = (len(times) * 9) // 10 - len(times) // 10
    return count / (hi - lo) if hi > lo else float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- clients (each runs in its own process) ----------------------------------------------------------


def run_engine_client(base_url: str, in_flight: int, requests: int) -> dict:
    from agorabench.generation.answer_task import AnswerTask
    from agorabench.generation.config import EngineConfig, GenerateConfig
    from agorabench.generation.runner import run_generate
    from agorabench.llm.base import SamplingParams
    from agorabench.llm.config import GeneratorConfig
    from agorabench.llm.openai_backend import OpenAIBackend  # noqa: F401 - import cost is not per request

    times: list[float] = []

    class Clock:  # the engine's progress hook, called once per finished record
        def update(self, stats) -> None:
            times.append(time.monotonic())

    rows = [{"instruction": f"benchmark request {i}"} for i in range(requests)]
    generator = GeneratorConfig(
        name="bench", backend="openai", model="fake-model", base_urls=[base_url], max_concurrency=in_flight
    )
    config = GenerateConfig(engine=EngineConfig(cache=False), sampling=SamplingParams(max_tokens=64))
    with tempfile.TemporaryDirectory() as out:
        cpu = cpu_seconds()
        result, _ = run_generate(config, generator, AnswerTask(rows), Path(out), progress=Clock())
        cpu = cpu_seconds() - cpu
    assert result.records_total == requests, result
    # The hook also fires once at the end of the run; keep one timestamp per record.
    return {"rate": steady_rate(times[:requests]), "cpu_ms": 1000 * cpu / requests}


def run_thread_pool_client(base_url: str, in_flight: int, requests: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)
    times: list[float] = []

    def one(i: int) -> None:
        client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": f"benchmark request {i}"}], max_tokens=64
        )
        times.append(time.monotonic())

    cpu = cpu_seconds()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(one, range(requests)))
    cpu = cpu_seconds() - cpu
    return {"rate": steady_rate(times), "cpu_ms": 1000 * cpu / requests}


def client_main(args: argparse.Namespace) -> None:
    pin(CLIENT_CORE)
    run = run_engine_client if args.client == "engine" else run_thread_pool_client
    print(json.dumps(run(args.base_url, args.in_flight, args.requests)))


# --- orchestration -----------------------------------------------------------------------------------


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    server = subprocess.Popen(
        [sys.executable, "-m", "agorabench.testing.fake_server", "--port", "0", "--latency", str(latency),
         "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: pin(SERVER_CORE),
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the fake server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"


def measure(client: str, base_url: str, in_flight: int, requests: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--client", client, "--base-url", base_url,
         "--in-flight", str(in_flight), "--requests", str(requests)],
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{client} client failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only 256 in flight at 1 s latency")
    parser.add_argument("--no-thread-pool", action="store_true", help="skip the thread-pool comparison")
    parser.add_argument("--client", choices=["engine", "threads"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--in-flight", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main(args)

    cases = [(1.0, 256)] if args.quick else [(1.0, 64), (1.0, 256), (1.0, 512), (0.2, 64), (0.2, 256), (0.2, 512)]
    print(f"{'latency':>8} {'in flight':>9} {'client':>11} {'req/s':>8} {'ideal':>7} {'fraction':>8} {'cpu ms/req':>10}")
    headline = None
    for latency in sorted({c[0] for c in cases}, reverse=True):
        server, base_url = start_server(latency)
        try:
            for case_latency, in_flight in cases:
                if case_latency != latency:
                    continue
                ideal = in_flight / latency
                clients = ["engine"] if args.no_thread_pool else ["engine", "threads"]
                for client in clients:
                    result = measure(client, base_url, in_flight, 10 * in_flight)
                    fraction = result["rate"] / ideal
                    label = "agorabench" if client == "engine" else "threadpool"
                    print(
                        f"{latency:>7.1f}s {in_flight:>9} {label:>11} {result['rate']:>8.1f} {ideal:>7.0f} "
                        f"{fraction:>8.2f} {result['cpu_ms']:>10.2f}",
                        flush=True,
                    )
                    if client == "engine" and latency == 1.0 and in_flight == 256:
                        headline = fraction
        finally:
            server.terminate()
            server.wait()
    print(f"engine: {headline:.2f} of ideal at 256 in flight")


if __name__ == "__main__":
    main()
