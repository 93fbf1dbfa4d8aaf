"""The fake LLM server, exercised over real HTTP with the real openai and anthropic SDKs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest

from agorabench.testing.fake_server import (
    FakeServer,
    Faults,
    canned_responder,
    echo_responder,
    last_user_text,
)

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is two plus two"}]
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def server():
    with FakeServer(models=["fake-a", "fake-b"]) as srv:
        yield srv


def oai(srv: FakeServer, **kwargs) -> openai.OpenAI:
    kwargs.setdefault("api_key", "test-key")
    return openai.OpenAI(base_url=srv.openai_base_url, max_retries=0, **kwargs)


def anth(srv: FakeServer, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", "test-key")
    return anthropic.Anthropic(base_url=srv.anthropic_base_url, max_retries=0, **kwargs)


def chat(client: openai.OpenAI, content: str = "what is two plus two", **kwargs):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]
    return client.chat.completions.create(model="fake-a", messages=messages, **kwargs)


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    """A raw request (no SDK): status and parsed JSON body, for endpoints and shapes the SDKs hide."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --------------------------------------------------------------------------- normal answers


def test_openai_round_trip(server):
    resp = chat(oai(server))
    assert resp.object == "chat.completion"
    assert resp.model == "fake-a"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Answer: what is two plus two"
    assert resp.choices[0].finish_reason == "stop"
    # Whitespace word counts: "be brief" + "what is two plus two" in, "Answer: what is two plus two" out.
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (7, 6, 13)


def test_seed_changes_the_echo(server):
    client = oai(server)
    one, two = chat(client, seed=1), chat(client, seed=2)
    assert one.choices[0].message.content == "Answer: what is two plus two [seed=1]"
    assert one.choices[0].message.content != two.choices[0].message.content
    assert chat(client, seed=1).choices[0].message.content == one.choices[0].message.content


def test_anthropic_round_trip(server):
    msg = anth(server).messages.create(
        model="fake-b",
        max_tokens=50,
        system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "fake-b"
    assert msg.content[0].type == "text" and msg.content[0].text == "Answer: hello there"
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, 3)


def test_content_blocks_are_read_as_text(server):
    blocks = [{"type": "text", "text": "part one "}, {"type": "text", "text": "part two"}]
    resp = oai(server).chat.completions.create(model="m", messages=[{"role": "user", "content": blocks}])
    assert resp.choices[0].message.content == "Answer: part one part two"


def test_aiohttp_transport_round_trip(server):
    async def go():
        async with openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key="k",
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        ) as client:
            # Concurrent requests, so several aiohttp connections are opened and reused.
            return await asyncio.gather(*(chat(client, f"question {i}") for i in range(20)))

    results = asyncio.run(go())
    assert [r.choices[0].message.content for r in results] == [f"Answer: question {i}" for i in range(20)]
    assert server.stats()["completions"] == 20


def test_models_endpoint_speaks_both_dialects(server):
    assert [m.id for m in oai(server).models.list()] == ["fake-a", "fake-b"]
    assert [m.id for m in anth(server).models.list()] == ["fake-a", "fake-b"]
    assert http("GET", server.url + "/health") == (200, {"status": "ok"})


def test_latency_applies_to_every_request():
    with FakeServer(faults=Faults(latency_s=0.2)) as srv:
        start = time.monotonic()
        chat(oai(srv))
        assert time.monotonic() - start >= 0.2


# --------------------------------------------------------------------------- responders


def test_canned_list_cycles():
    responder = canned_responder(["a", "b"])
    assert [responder({"messages": []}) for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_canned_mapping_matches_substrings_and_falls_back():
    responder = canned_responder({"capital": "Paris", "plus": "4"})
    assert responder({"messages": [{"role": "user", "content": "the capital of France"}]}) == "Paris"
    assert responder({"messages": [{"role": "user", "content": "two plus two"}]}) == "4"
    assert responder({"messages": [{"role": "user", "content": "hi"}]}) == "Answer: hi"


def test_custom_responder_sees_the_request_body():
    def responder(body: dict) -> str:
        return f"{body['model']}|{body['temperature']}|{last_user_text(body)}"

    with FakeServer(responder=responder) as srv:
        resp = chat(oai(srv), "hi", temperature=0.5)
    assert resp.choices[0].message.content == "fake-a|0.5|hi"
    assert echo_responder({"messages": [{"role": "assistant", "content": "x"}]}) == "Answer: "


# --------------------------------------------------------------------------- faults


def test_rate_limit_gives_429_with_retry_after_headers():
    with FakeServer(faults=Faults(rate_limit=1.0, retry_after_ms=1500)) as srv:
        with pytest.raises(openai.RateLimitError) as info:
            chat(oai(srv))
        assert info.value.response.headers["retry-after-ms"] == "1500"
        assert info.value.response.headers["retry-after"] == "2"  # whole seconds, rounded up
        assert info.value.body["code"] == "rate_limit_exceeded"
        with pytest.raises(anthropic.RateLimitError) as ainfo:
            anth(srv).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert ainfo.value.response.headers["retry-after-ms"] == "1500"
        assert ainfo.value.body["error"]["type"] == "rate_limit_error"


def test_server_error_gives_500():
    with FakeServer(faults=Faults(server_error=1.0)) as srv:
        with pytest.raises(openai.InternalServerError):
            chat(oai(srv))
        with pytest.raises(anthropic.InternalServerError):
            anth(srv).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_slow_answer_trips_the_client_timeout():
    with FakeServer(faults=Faults(slow=1.0, slow_s=2.0)) as srv:
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            chat(oai(srv, timeout=0.3))
        assert time.monotonic() - start < 1.5
        with pytest.raises(anthropic.APITimeoutError):
            anth(srv, timeout=0.3).messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    # The server does not hold up shutdown for the abandoned slow requests: the whole test is quick.
    assert time.monotonic() - start < 2.0


def test_reset_drops_the_connection():
    with FakeServer(faults=Faults(reset=1.0)) as srv:
        with pytest.raises(openai.APIConnectionError) as info:
            chat(oai(srv))
        # A connection error proper (httpx ReadError / RemoteProtocolError), not a timeout or a status.
        assert type(info.value) is openai.APIConnectionError
        with pytest.raises(anthropic.APIConnectionError):
            anth(srv).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert srv.stats()["faults"]["reset"] == 2


def test_reset_over_the_aiohttp_transport():
    async def go(srv):
        async with openai.AsyncOpenAI(
            base_url=srv.openai_base_url,
            api_key="k",
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        ) as client:
            await chat(client)

    with FakeServer(faults=Faults(reset=1.0)) as srv:
        # openai's vendored httpx-aiohttp maps every aiohttp.ClientConnectionError to httpx.ConnectTimeout,
        # so over aiohttp a reset surfaces as APITimeoutError ("Connection reset by peer" in its cause).
        # That is still an APIConnectionError, which is all a caller should rely on.
        with pytest.raises(openai.APIConnectionError):
            asyncio.run(go(srv))


def test_malformed_body_is_not_an_sdk_error():
    with FakeServer(faults=Faults(malformed=1.0)) as srv:
        # Surprise: both SDKs (openai 3.x, anthropic 2.x) let the bare json.JSONDecodeError (a ValueError)
        # escape for a 200 application/json response whose body is not JSON; it is NOT wrapped in
        # openai.APIError / APIResponseValidationError. Callers must catch ValueError themselves.
        with pytest.raises(json.JSONDecodeError):
            chat(oai(srv))
        with pytest.raises(json.JSONDecodeError):
            anth(srv).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_length_fault_truncates_with_finish_reason_length():
    with FakeServer(faults=Faults(length=1.0)) as srv:
        resp = chat(oai(srv))
        assert resp.choices[0].finish_reason == "length"
        assert resp.choices[0].message.content == "Answer: what is"  # the first half of the words
        assert resp.usage.completion_tokens == 3
        msg = anth(srv).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "a b c"}]
        )
        assert msg.stop_reason == "max_tokens"
        assert msg.content[0].text == "Answer: a"


def test_faults_are_reproducible_from_the_seed():
    def outcomes(seed: int) -> list[str]:
        with FakeServer(faults=Faults(server_error=0.5, seed=seed)) as srv:
            client = oai(srv)
            result = []
            for _ in range(30):
                try:
                    chat(client)
                    result.append("ok")
                except openai.InternalServerError:
                    result.append("500")
            return result

    first = outcomes(7)
    assert first == outcomes(7)
    assert {"ok", "500"} == set(first)
    assert first != outcomes(8)


def test_max_consecutive_faults_per_prompt():
    with FakeServer(faults=Faults(server_error=1.0, max_consecutive_faults_per_prompt=2)) as srv:
        client = oai(srv)
        outcomes = []
        for _ in range(6):
            try:
                chat(client, "same prompt")
                outcomes.append("ok")
            except openai.InternalServerError:
                outcomes.append("500")
        # A success ends the streak, so the pattern repeats. Other prompts have their own streaks.
        assert outcomes == ["500", "500", "ok", "500", "500", "ok"]
        with pytest.raises(openai.InternalServerError):
            chat(client, "another prompt")


def test_faults_validation():
    with pytest.raises(ValueError):
        Faults(rate_limit=0.6, server_error=0.6)
    with pytest.raises(ValueError):
        Faults(reset=-0.1)
    with pytest.raises(ValueError, match="unknown"):
        Faults.from_dict({"rate_limt": 0.5})
    assert Faults.from_dict(Faults(slow=0.2).to_dict()) == Faults(slow=0.2)


# --------------------------------------------------------------------------- auth


def test_auth_required_when_api_key_is_set():
    with FakeServer(api_key="sekrit") as srv:
        with pytest.raises(openai.AuthenticationError) as info:
            chat(oai(srv, api_key="wrong"))
        assert info.value.body["code"] == "invalid_api_key"
        assert chat(oai(srv, api_key="sekrit")).choices[0].finish_reason == "stop"

        with pytest.raises(anthropic.AuthenticationError) as ainfo:
            anth(srv, api_key="wrong").messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert ainfo.value.body["error"]["type"] == "authentication_error"
        msg = anth(srv, api_key="sekrit").messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
        assert msg.content[0].text == "Answer: x"

        # No credentials at all: an OpenAI-shaped error body on the OpenAI route.
        status, body = http("POST", srv.openai_base_url + "/chat/completions", {"messages": MESSAGES})
        assert status == 401 and body["error"]["type"] == "invalid_request_error"
        assert srv.stats()["unauthorized"] == 3


# --------------------------------------------------------------------------- stats and admin


def test_stats_count_requests_faults_and_prompts(server):
    client = oai(server)
    chat(client, "p1")
    chat(client, "p1")
    chat(client, "p2")
    server.set_faults(Faults(server_error=1.0))
    with pytest.raises(openai.InternalServerError):
        chat(client, "p2")
    stats = server.stats()
    assert stats["requests"] == 4
    assert stats["completions"] == 3
    assert stats["faults"]["server_error"] == 1 and stats["faults_total"] == 1
    assert stats["prompts"] == {"p1": 2, "p2": 2}
    assert stats["distinct_prompts"] == 2
    assert stats["by_endpoint"] == {"chat": 4}
    # The HTTP endpoint serves the same counters; `?prompts=0` leaves the per-prompt table out.
    status, over_http = http("GET", server.url + "/stats")
    assert status == 200 and over_http == stats
    assert "prompts" not in http("GET", server.url + "/stats?prompts=0")[1]

    assert http("POST", server.url + "/admin/stats/reset", {})[0] == 200
    assert server.stats()["requests"] == 0


def test_admin_faults_replaces_the_config(server):
    client = oai(server)
    status, body = http("POST", server.url + "/admin/faults", {"server_error": 1.0})
    assert status == 200 and body["server_error"] == 1.0
    with pytest.raises(openai.InternalServerError):
        chat(client)
    assert server.faults.server_error == 1.0
    assert http("GET", server.url + "/admin/faults")[1]["server_error"] == 1.0

    # Healthy again: missing fields take their defaults.
    assert http("POST", server.url + "/admin/faults", {})[0] == 200
    assert chat(client).choices[0].finish_reason == "stop"

    # A typo is rejected rather than silently meaning "no faults".
    status, body = http("POST", server.url + "/admin/faults", {"server_eror": 1.0})
    assert status == 400 and "unknown" in body["error"]


def test_bad_request_body(server):
    status, body = http("POST", server.openai_base_url + "/chat/completions", {"model": "m"})
    assert status == 400 and "messages" in body["error"]["message"]
    status, body = http("POST", server.url + "/v1/messages", {"messages": [], "stream": True})
    assert status == 400 and body["type"] == "error"


# --------------------------------------------------------------------------- subprocess mode


def test_subprocess_mode(tmp_path):
    port_file = tmp_path / "port"
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    cmd = [
        sys.executable, "-m", "agorabench.testing.fake_server",
        "--port", "0", "--port-file", str(port_file),
        "--seed", "1", "--latency", "0.01", "--api-key", "k", "--model", "sub-model",
    ]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            deadline = time.monotonic() + 10
            while not port_file.exists():
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.02)
            port = int(port_file.read_text())
            assert proc.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}"

            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
            assert chat(client, "hi").choices[0].message.content == "Answer: hi"
            assert [m.id for m in client.models.list()] == ["sub-model"]
            assert http("GET", f"http://127.0.0.1:{port}/stats")[1]["completions"] == 1
        finally:
            # SIGTERM must stop it cleanly (exit status 0), well within the timeout.
            proc.send_signal(signal.SIGTERM)
            try:
                _, stderr = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, stderr
