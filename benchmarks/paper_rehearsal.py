"""A full-scale rehearsal of the paper's generation, over HTTP to local fake servers: does the dry run say
what the run then sends and pays?

    python benchmarks/paper_rehearsal.py                 # 2 generators x 9 settings x 10,000 instances
    python benchmarks/paper_rehearsal.py --instances 500 # a quicker pass

The `agorabench` profile's generation, for two generators: one online through an OpenAI-compatible server,
one through the OpenAI Batch API. Both servers are the project's fake server in their own process (core 0),
with a service latency, 5% injected faults (429s, 500s, dropped connections) and a responder that writes a
valid instance for each setting, of a length drawn around the dry run's priors (and, as often as its
rejection priors say, one the validators reject). A dataset that ends short (an item that failed all its
retries) is run once more, as a user would rerun the command: that pass retries only the failed items, and its
tokens and dollars are counted with the first. Seed files are written in
the Hub datasets' own formats (GSM8K, MATH, MBPP, xP3x, LIMA, Magpie, WebInstruct, CoNaLa) and passed as
local overrides, so the paper's field mappings run too. The servers count tokens with a real BPE tokenizer
(SmolLM2's, which ships offline), so "tokens estimate error" measures the dry run's 4-characters-a-token
rule and its retry and length priors against tokens as a provider would bill them.

The last line is read by tooling:
`rehearsal: <D> datasets (<B> through a batch API), min <M> records, tokens estimate error <E>%, dollars
estimate error <F>%, <T> s`
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, CLIENT_CORE = 0, 1


def english_corpus() -> list[str]:
    """Words of real English prose: every instruction and response of the bundled seed sets, in order. Text
    drawn from it has the characters-per-token ratio of real prompts (random words from a list do not)."""
    from agorabench.data.seeds import BUNDLED

    words: list[str] = []
    for path in sorted(BUNDLED.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for field in ("instruction", "response"):
                text = row.get(field) or ""
                if "```" not in text:  # prose only
                    words += text.replace("[RESULT]", "").replace("[/RESULT]", "").split()
    return words


WORDS: list[str] = []


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


# --- seed files in the Hub datasets' own formats -----------------------------------------------------------


def sentence(rng: random.Random, n: int) -> str:
    """n words of English: runs of 4-7 consecutive corpus words from random places (distinct texts, real prose)."""
    if not WORDS:
        WORDS.extend(english_corpus())
    out: list[str] = []
    while len(out) < n:
        start = rng.randrange(len(WORDS) - 8)
        out += WORDS[start : start + rng.randint(4, 7)]
    return " ".join(out[:n])


def write_jsonl(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def write_seeds(folder: Path, inputs: int, rng: random.Random) -> dict[str, list[dict]]:
    """Seed files per setting, as the `agorabench` profile's local overrides (source names as in data/seeds.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = inputs + inputs // 10 + 20  # enough inputs for RG/QE even after deduplication
    demos = 60

    def q(words: int = 14) -> str:
        return sentence(rng, words).capitalize() + "?"

    gsm8k = write_jsonl(folder / "gsm8k-train.jsonl", (
        {"question": q(), "answer": f"{sentence(rng, 30)}\n#### {rng.randint(1, 999)}"} for _ in range(demos)))
    math_ = write_jsonl(folder / "math-train.jsonl", (
        {"problem": q(), "solution": f"{sentence(rng, 40)} so the answer is $\\boxed{{{rng.randint(1, 99)}}}$.",
         "level": "Level 3", "type": "Algebra"} for _ in range(demos)))
    mbpp = write_jsonl(folder / "mbpp-train.jsonl", (
        {"task_id": i, "text": f"Write a function to {sentence(rng, 10)}.",
         "code": f"def f_{i}(x):\n    return x + {i}", "test_list": [f"assert f_{i}(1) == {1 + i}"]}
        for i in range(demos)))
    xp3x = write_jsonl(folder / "xp3x-code.jsonl", (
        {"inputs": f"Complete the code: {sentence(rng, 12)}", "targets": f"def g_{i}(y):\n    return y * {i}",
         "language": "code", "split": "train"} for i in range(demos)))
    lima = write_jsonl(folder / "lima-train.jsonl", (
        {"conversations": [q(), sentence(rng, 120)], "source": "stackexchange"} for _ in range(demos)))
    categories = {"math": "Math", "code": "Coding & Debugging", "general": "Information seeking"}
    magpie = write_jsonl(folder / "magpie.jsonl", (
        {"conversations": [{"from": "human", "value": q(16)}, {"from": "gpt", "value": sentence(rng, 80)}],
         "task_category": categories[domain]} for domain in categories for _ in range(n)))
    webinstruct = write_jsonl(folder / "webinstruct.jsonl", (
        {"question": q(16), "answer": sentence(rng, 60), "source": "socratic"} for _ in range(2 * n)))
    conala = write_jsonl(folder / "conala-mined.jsonl", (
        {"intent": f"how to {sentence(rng, 10)}", "snippet": f"x = {rng.randint(0, 99)}  # {sentence(rng, 4)}",
         "question_id": i, "prob": 0.5} for i in range(n)))
    local = lambda source, path: [{"source": source, "path": str(path)}]  # noqa: E731
    return {
        "IG/math": local("gsm8k", gsm8k) + local("math", math_),
        "IG/code": local("mbpp", mbpp) + local("xp3x", xp3x),
        "IG/general": local("lima", lima),
        "RG/math": local("magpie", magpie), "RG/code": local("magpie", magpie), "RG/general": local("magpie", magpie),
        "QE/math": local("webinstruct", webinstruct), "QE/code": local("conala", conala),
        "QE/general": local("webinstruct", webinstruct),
    }


# --- the servers' responder: a valid instance per setting, lengths around the priors ------------------------


class Responder:
    """Reads the setting from the prompt and writes a valid output: IG/QE an [Instruction]/[Response] pair,
    RG a response; math ends in a [RESULT] block, code is one fenced block. Response lengths (in the
    tokenizer's tokens) are drawn from a lognormal around the dry run's per-domain prior."""

    def __init__(self, count_tokens, priors: dict[str, int], rejection: dict[str, float], seed: int = 0):
        self.count = count_tokens
        self.priors = priors
        self.rejection = rejection
        self.rng = random.Random(seed)
        sample = sentence(random.Random(1), 2000)
        self.tokens_per_word = count_tokens(sample) / 2000

    def _words(self, tokens: float) -> str:
        return sentence(self.rng, max(3, round(tokens / self.tokens_per_word)))

    def __call__(self, body: dict) -> str:
        from agorabench.testing.fake_server import last_user_text

        prompt = last_user_text(body)
        domain = "math" if "[RESULT]" in prompt else "code" if "```python" in prompt else "general"
        method = ("IG" if "examples of the kind" in prompt or "Here are" in prompt
                  else "QE" if "Below is" in prompt else "RG")
        target = self.priors[domain] * math.exp(self.rng.gauss(0.0, 0.25) - 0.25**2 / 2)  # mean = prior
        if self.rng.random() < self.rejection[domain]:
            # An output the validators reject, as often as the dry run's prior expects: math without its
            # [RESULT] block, code with chatty prose around the fence, general with template scaffolding.
            bad = {"math": self._words(target), "code": f"Sure! {self._words(20)}\n```python\nx = 1\n```",
                   "general": f"{self._words(target)} {{{{placeholder}}}}"}[domain]
            return bad if method == "RG" else f"[Instruction]\n{self._words(14)}\n[Response]\n{bad}\n[END]"
        if domain == "math":
            response = f"{self._words(target - 8)}\n[RESULT] {self.rng.randint(1, 999)} [/RESULT]"
        elif domain == "code":
            name = f"f_{self.rng.getrandbits(40):x}"
            lines = max(1, round((target - 12) / (7 * self.tokens_per_word + 2)))
            comments = "\n".join(f"    # {sentence(self.rng, 7)}" for _ in range(lines))
            response = f"```python\ndef {name}(x):\n{comments}\n    return x\n```"
        else:
            response = self._words(target)
        if method == "RG":
            return f"{response}\n[END]"
        instruction = f"{sentence(self.rng, 14).capitalize()}? Case {self.rng.getrandbits(32):x}."
        return f"[Instruction]\n{instruction}\n[Response]\n{response}\n[END]"


def serve(port_file: str, latency: float, seed: int) -> None:
    """Run one fake server in this process (the `--serve` mode), pinned to the server core."""
    pin(SERVER_CORE)
    from transformers import AutoTokenizer

    from agorabench.llm.embedded import resolve_local_model
    from agorabench.pipeline.estimate import REJECTION_RATE, RESPONSE_TOKENS
    from agorabench.testing.fake_server import FakeServer, Faults

    tokenizer = AutoTokenizer.from_pretrained(resolve_local_model("smollm2-135m-instruct"))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    faults = Faults(rate_limit=0.02, server_error=0.02, reset=0.01, latency_s=latency, retry_after_ms=200,
                    max_consecutive_faults_per_prompt=2, seed=seed)
    responder = Responder(count, RESPONSE_TOKENS, REJECTION_RATE, seed)
    with FakeServer(responder=responder, faults=faults, token_counter=count,
                    models=["gpt-4o-mini", "gpt-4o"]) as server:
        Path(port_file).write_text(str(server.port))
        while True:
            time.sleep(3600)


def start_server(folder: Path, name: str, latency: float, seed: int) -> tuple[subprocess.Popen, str]:
    port_file = folder / f"{name}.port"
    port_file.unlink(missing_ok=True)  # a port file left by an earlier run would point at a dead server
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), "--latency", str(latency),
                             "--seed", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"fake server {name} did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"


# --- the rehearsal ---------------------------------------------------------------------------------------------


def rehearse(instances: int, latency: float, work: Path) -> None:
    pin(CLIENT_CORE)
    from agorabench.pipeline.config import profile_config
    from agorabench.pipeline.estimate import estimate_generation
    from agorabench.pipeline.plan import build_plan
    from agorabench.pipeline.stages import execute

    started = time.monotonic()
    seeds = write_seeds(work / "seeds", instances, random.Random(0))
    online_server, online_url = start_server(work, "online", latency, seed=1)
    batch_server, batch_url = start_server(work, "batch", latency, seed=2)
    try:
        generators = [
            {"name": "online", "backend": "openai", "model": "gpt-4o-mini", "base_urls": [online_url],
             "max_concurrency": 128, "timeout_s": 60},
            {"name": "batched", "backend": "openai", "model": "gpt-4o", "base_urls": [batch_url], "mode": "batch"},
        ]
        config = profile_config(
            "agorabench", instances=instances, generators=generators,
            # The token budget's tokenizer and the (unrun) student: an embedded model, so nothing needs the Hub.
            student={"base": "smollm2-135m-instruct", "recipe": "agorabench"},
            # 5 validation retries: an item fails for good with p^6 (under 1e-4 at code's 15%), so each dataset
            # ends with every instance asked for; the estimate accounts for the same R.
            generation={"seeds": seeds, "engine": {"cache": False, "backoff_base_s": 0.2, "backoff_max_s": 5.0,
                                                   "max_validation_retries": 5}},
        )
        plan = build_plan(config)
        estimated, notes = estimate_generation(config, plan, store=None)
        for note in notes:
            print(f"dry run note: {note}", file=sys.stderr)
        by_label = {f"{r.generator}.{r.method}.{r.domain}": r for r in estimated}
        results = []
        for cell in plan.cells:
            folder = work / "out" / cell.generate.label
            t0 = time.monotonic()
            params = {**cell.generate.params, **cell.generate.runtime}
            execute("generate", params, folder, {}, progress=False)
            metadata = json.loads((folder / "metadata.json").read_text())
            run = dict(metadata["this_run"])
            passes = 1
            if metadata["counts"]["records"] < instances:
                # An item that exhausted its retries is in failed.jsonl; a user reruns the same command, which
                # retries exactly those (and nothing else). The rehearsal does the same, once, and bills both passes.
                execute("generate", params, folder, {}, progress=False)
                metadata = json.loads((folder / "metadata.json").read_text())
                for key in ("prompt_tokens", "completion_tokens", "requests_sent", "cost_usd"):
                    run[key] = (run[key] or 0) + (metadata["this_run"][key] or 0)
                passes = 2
            row = by_label[cell.generate.label]
            results.append({
                "dataset": cell.generate.label, "records": metadata["counts"]["records"],
                "sent_prompt_tokens": run["prompt_tokens"], "est_prompt_tokens": row.prompt_tokens,
                "sent_output_tokens": run["completion_tokens"], "est_output_tokens": row.output_tokens,
                "requests": run["requests_sent"], "est_requests": row.requests,
                "cost_usd": run["cost_usd"], "est_cost_usd": row.cost_usd, "batch": row.batch,
                "passes": passes, "seconds": round(time.monotonic() - t0, 1),
            })
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        for proc in (online_server, batch_server):
            proc.terminate()
    sent_tokens = sum(r["sent_prompt_tokens"] for r in results)
    est_tokens = sum(r["est_prompt_tokens"] for r in results)
    cost = sum(r["cost_usd"] for r in results)
    est_cost = sum(r["est_cost_usd"] or 0.0 for r in results)
    (work / "rehearsal.json").write_text(json.dumps(results, indent=1))
    print(f"per-dataset figures: {work / 'rehearsal.json'}", file=sys.stderr)
    print(
        f"rehearsal: {len(results)} datasets ({sum(r['batch'] for r in results)} through a batch API), "
        f"min {min(r['records'] for r in results)} records, "
        f"tokens estimate error {100 * (est_tokens - sent_tokens) / sent_tokens:.1f}%, "
        f"dollars estimate error {100 * (est_cost - cost) / cost:.1f}%, {time.monotonic() - started:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per completion")
    parser.add_argument("--work", help="folder for seeds and outputs (default: a temporary one)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency, args.seed)
        return
    if args.work:
        rehearse(args.instances, args.latency, Path(args.work))
    else:
        with tempfile.TemporaryDirectory(prefix="agorabench-rehearsal-") as work:
            rehearse(args.instances, args.latency, Path(work))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main()
