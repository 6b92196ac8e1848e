"""The load generator: its own process, so it never shares an event loop with what it measures.

`bench/run.py` starts `python -m bench.load` once per bot under test and sends it jobs, one JSON
object per line on stdin; each answer is one JSON line on stdout. A job is a list of HTTP
requests and how to pace them:

    {"requests": [{"url": ..., "body": ..., "content_type": ..., "tag": ...,
                   "slack_secret": ...}, ...],      # slack_secret: sign as Slack, at send time
     "concurrency": 10}                            # closed loop: 10 senders, each sending its
                                                   # next request when the last was answered
    {"requests": [...], "rate": 40.0}              # open loop: one request every 1/40 s

The answer: {"results": [{"tag", "sent", "ms", "status", "body"?}, ...]} where `sent` is
`time.perf_counter()` when the request left (CLOCK_MONOTONIC on Linux, so the harness can
compare it with its own clock), `ms` the time until the whole answer was read, and `body` the
start of the answer when there was one (a Slack ack is empty unless it answers at once).
Connections are kept alive between requests and jobs, as Slack and Teams do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from typing import Any

import aiohttp

MAX_REQUESTS_PER_JOB = 100_000  # a job is held in memory whole
MAX_CONCURRENCY = 2_000
MAX_RATE = 10_000.0
ANSWER_KEPT = 300  # characters of a non-empty answer, returned with its timing


def slack_headers(secret: str, body: bytes) -> dict[str, str]:
    """Slack's v0 request signature over the raw body, with the current timestamp."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


async def send(session: aiohttp.ClientSession, request: dict[str, Any]) -> dict[str, Any]:
    body = str(request["body"]).encode()
    headers = {"Content-Type": str(request.get("content_type") or "application/json")}
    if request.get("slack_secret"):
        headers.update(slack_headers(str(request["slack_secret"]), body))
    started = time.perf_counter()
    try:
        async with session.post(str(request["url"]), data=body, headers=headers) as resp:
            answer = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, answer = -1, b""
        request = {**request, "error": type(exc).__name__}
    elapsed = (time.perf_counter() - started) * 1000
    result = {"tag": request.get("tag"), "sent": started, "ms": elapsed, "status": status}
    if status != -1 and answer:
        result["body"] = answer[:ANSWER_KEPT].decode(errors="replace")
    if "error" in request:
        result["error"] = request["error"]
    return result


async def closed_loop(
    session: aiohttp.ClientSession, requests: list[dict[str, Any]], concurrency: int
) -> list[dict[str, Any]]:
    queue = iter(enumerate(requests))
    results: list[dict[str, Any] | None] = [None] * len(requests)

    async def sender() -> None:
        for index, request in queue:  # a shared iterator: each request is taken once
            results[index] = await send(session, request)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return [r for r in results if r is not None]


async def open_loop(
    session: aiohttp.ClientSession, requests: list[dict[str, Any]], rate: float
) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for index, request in enumerate(requests):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(session, request)))
    return list(await asyncio.gather(*tasks))


def check(job: dict[str, Any]) -> str | None:
    requests = job.get("requests")
    if not isinstance(requests, list) or len(requests) > MAX_REQUESTS_PER_JOB:
        return f"a job needs a list of at most {MAX_REQUESTS_PER_JOB} requests"
    if job.get("rate") is not None:
        if not 0 < float(job["rate"]) <= MAX_RATE:
            return f"rate must be above 0 and at most {MAX_RATE}"
    elif not 1 <= int(job.get("concurrency", 0)) <= MAX_CONCURRENCY:
        return f"concurrency must be 1 to {MAX_CONCURRENCY}"
    return None


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while line := await reader.readline():
            job = json.loads(line)
            problem = check(job)
            if problem is not None:
                answer: dict[str, Any] = {"error": problem}
            elif job.get("rate") is not None:
                answer = {"results": await open_loop(session, job["requests"], float(job["rate"]))}
            else:
                answer = {
                    "results": await closed_loop(session, job["requests"], int(job["concurrency"]))
                }
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
