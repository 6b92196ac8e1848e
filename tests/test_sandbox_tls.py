"""The sandbox's `--tls` mode, and psabot's ConnectWise client trusting it through a CA bundle."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import FAST_RETRY
from test_cli import free_port, psabot

from psa.connectwise.hosts import HostPolicy
from psa.connectwise.provider import ConnectWiseProvider
from psa.connectwise.sandbox import OPEN_TICKET_ID, TICKET_COUNT, SandboxServer
from psa.errors import NotSent
from psa.types import ConnectionSettings

# the subprocesses import this checkout's code, wherever the venv's editable install points
SOURCE = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture
async def tls_sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(tls=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def provider_for(sandbox: SandboxServer, ca_bundle: str | None) -> ConnectWiseProvider:
    creds = sandbox.credentials
    settings = ConnectionSettings(
        provider="connectwise",
        site=sandbox.url,  # https://127.0.0.1:port
        company_id=creds.company_id,
        public_key=creds.public_key,
        private_key=creds.private_key,
        client_id=creds.client_id,
    )
    return ConnectWiseProvider(
        settings,
        HostPolicy([sandbox.host_port]),
        retry=FAST_RETRY,
        timeout=5.0,
        ca_bundle=ca_bundle,
    )


async def test_client_with_the_ca_fetches_a_ticket_over_https(tls_sandbox: SandboxServer) -> None:
    assert tls_sandbox.url.startswith("https://")
    assert tls_sandbox.ca_bundle is not None
    provider = provider_for(tls_sandbox, tls_sandbox.ca_bundle)
    try:
        ticket = await provider.get_ticket(OPEN_TICKET_ID)
        # pagination over https: the Link headers the sandbox writes point at https as well
        every = await provider.client.get_all("service/tickets", {"fields": "id"}, page_size=60)
    finally:
        await provider.aclose()

    assert ticket.id == OPEN_TICKET_ID
    assert ticket.summary == "Front desk printer jams on every print job"
    assert str(await provider.client.base_url()).startswith("https://")
    assert len(every) == TICKET_COUNT
    listing = [r for r in tls_sandbox.requests if r.path.endswith("/service/tickets")]
    assert len(listing) == 4 and all(r.status == 200 for r in listing)


async def test_client_without_the_ca_is_refused(tls_sandbox: SandboxServer) -> None:
    provider = provider_for(tls_sandbox, None)  # the system's trust store only
    try:
        with pytest.raises(NotSent, match="TLS certificate is not trusted"):
            await provider.get_ticket(OPEN_TICKET_ID)
    finally:
        await provider.aclose()

    assert len(tls_sandbox.requests) == 0  # the handshake failed: no request reached the API


async def test_the_certificate_files_live_as_long_as_the_sandbox() -> None:
    server = SandboxServer(tls=True)
    assert server.ca_bundle is None  # generated at start, not before
    await server.start()
    ca_file = Path(str(server.ca_bundle))
    try:
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert "CA bundle (TLS)" in server.banner() and str(ca_file) in server.banner()
    finally:
        await server.stop()
    assert not ca_file.parent.exists()
    assert server.ca_bundle is None


def test_sandbox_command_serves_https_and_prints_the_ca_bundle(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--tls", "--tickets", "300", "--port", str(port)],
        cwd=tmp_path,
        env={**clean, **SOURCE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ca_file = ""
        deadline = time.monotonic() + 60
        while not ca_file and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the sandbox exited before printing its CA bundle"
            if "CA bundle (TLS):" in line:
                ca_file = line.split(":", 1)[1].split()[0]
        assert ca_file, "the sandbox printed no CA bundle"
        context = ssl.create_default_context(cafile=ca_file)
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/_sandbox", context=context) as r:
            overview = json.loads(r.read())
        with pytest.raises(urllib.request.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/_sandbox")
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the sandbox stops and removes its files
        proc.communicate(timeout=15)
    assert overview["company_id"] == "psabot"
    assert not Path(ca_file).exists()


def test_sandbox_command_refuses_an_unusable_ticket_count(tmp_path: Path) -> None:
    result = psabot("sandbox", "--tickets", "5", cwd=tmp_path, env=SOURCE, timeout=30)

    assert result.returncode != 0
    assert "--tickets 5: the ticket count must be from 200 to 20000" in result.stderr
