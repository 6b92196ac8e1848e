"""The shell a newcomer meets: transcripts through the transport, and the real `psabot shell`."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import sys
from pathlib import Path

import pytest
from conftest import connect_account
from test_cli import psabot
from transcript import Chat

from bot.runtime import Runtime
from bot.shell.session import ShellSession
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, SandboxServer

URL_RE = re.compile(r"https?://\S+")


@pytest.fixture
async def chat(sqlite_runtime: Runtime, cw_sandbox: SandboxServer) -> Chat:
    await connect_account(sqlite_runtime, cw_sandbox)
    return Chat(sqlite_runtime, admin=True)


@pytest.fixture
async def linked(chat: Chat) -> Chat:
    assert "Linked" in await chat.say(f"link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("map me")
    return chat


# -- mentions and identities ------------------------------------------------------------------


async def test_at_name_mentions_resolve_to_shell_users(chat: Chat) -> None:
    assert "bob now posts to ConnectWise as Marcus Smith (msmith)" in await chat.say(
        "map @bob msmith"
    )
    assert "bob is now an owner" in await chat.say("owners add @bob")
    mappings = await chat.say("mappings")
    assert "bob" in mappings and "msmith" in mappings
    # An address is not a mention.
    assert chat.session.mentions("mail jane@example.com") == "mail jane@example.com"
    assert chat.session.mentions('ask @"Jane Doe".') == "ask <@jane.doe|Jane Doe>."


async def test_as_takes_a_two_word_name_and_comes_back(chat: Chat) -> None:
    for line in ('/as "Maria Lopez" --admin', "/as Maria Lopez --admin"):
        out = await chat.say(line)
        assert "You are now Maria Lopez (admin)." in out
        assert chat.user.name == "Maria Lopez" and chat.user.is_admin
    await chat.say("/as Bob")
    back = await chat.say("/as Jane Doe")
    assert "You are now Jane Doe." in back
    assert chat.user.id == "jane.doe" and chat.user.email == "jane.doe@example.com"


async def test_prompt_shows_user_and_place(chat: Chat) -> None:
    assert chat.session.prompt == "Jane Doe in #general> "
    await chat.say("/in ops 1700.1")
    assert chat.session.prompt == "Jane Doe in #ops thread 1700.1> "


# -- what the terminal shows ------------------------------------------------------------------


async def test_help_fits_80_columns_and_lists_shell_commands(sqlite_runtime: Runtime) -> None:
    lines: list[str] = []

    async def out(text: str) -> None:
        lines.extend(text.splitlines())

    chat = Chat(sqlite_runtime)
    session = ShellSession(sqlite_runtime.dispatcher, chat.prompter, out, user=chat.user, width=80)
    await session.run_line("help")
    assert lines and max(len(line) for line in lines) <= 80, max(lines, key=len)
    text = "\n".join(lines)
    for command in ("/as <name>", "/in <channel>", "/press <n>", "/whoami", "/quit", "@name"):
        assert command in text
    assert "--discussion" in text  # every note flag is listed


async def test_cards_show_one_url_and_no_chat_markup(linked: Chat) -> None:
    out = await linked.say("status waiting")
    assert "now Waiting on Customer" in out
    assert len(set(URL_RE.findall(out))) == 1 and len(URL_RE.findall(out)) == 1, out
    words = URL_RE.sub("", out)
    assert "*" not in words and "_" not in words, out
    note = await linked.say("note --discussion Called the customer back")
    assert len(URL_RE.findall(note)) == 1, note
    assert "Type       Discussion" in note


async def test_pickers_list_their_options_before_anything_is_typed(linked: Chat) -> None:
    out = await linked.say("status", answers=["4"])
    before_prompt = out.split("New status")[0]
    assert "4. Waiting on Customer" in before_prompt and "1. New" in before_prompt
    assert "now Waiting on Customer" in out
    asked = [label for label, _ in linked.prompter.asked]
    assert any(label.startswith("New status (number, or words to search") for label in asked)


# -- commands: typos never reach the ticket ---------------------------------------------------


async def test_a_mistyped_note_flag_posts_nothing_and_suggests_the_flag(linked: Chat) -> None:
    out = await linked.say("note --interal x")
    assert "did you mean `--internal`?" in out and "Nothing was posted" in out
    assert "Nothing has been posted from chat" in await linked.say("history")
    assert "Note added" in await linked.say("note -- --interal is a word here")
    assert "note (Internal): “--interal is a word here”" in await linked.say("history")


async def test_unknown_command_suggests_the_close_one(linked: Chat) -> None:
    out = await linked.say("stat waiting")
    assert "I don't know `stat`. Did you mean `status`?" in out


async def test_one_name_per_note_type(linked: Chat) -> None:
    await linked.say("note --resolution Replaced the fuser")
    await linked.say("note -d Spoke to the office manager")
    history = await linked.say("history")
    assert "note (Resolution)" in history and "note (Discussion)" in history
    form = await linked.say("note", answers=[])
    assert "1. Internal" in form and "3. Discussion" in form and "description" not in form


async def test_form_errors_come_before_the_form_is_asked_again(chat: Chat) -> None:
    await chat.say(
        "connect",
        answers=["", "", "wrong-public", "wrong-private", "", "", "", "", "", ""],
    )
    text = "\n".join(chat.lines)
    second = text.split("── Edit ConnectWise ──")[2]
    assert "rejected these keys" in second.split("Site")[0], second


# -- the real program ------------------------------------------------------------------------


async def _shell(tmp: Path, *args: str) -> asyncio.subprocess.Process:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "shell",
        *args,
        cwd=tmp,
        env={**clean, "COLUMNS": "80"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_ctrl_c_exits_0_with_a_newline(tmp_path: Path) -> None:
    proc = await _shell(tmp_path, "--sandbox")
    assert proc.stdout is not None
    seen = b""
    async with asyncio.timeout(60):
        while not seen.endswith(b"in #general> "):
            seen += await proc.stdout.read(1)
    proc.send_signal(signal.SIGINT)
    rest, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert (seen + rest).endswith(b"> \n")
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err + rest


def test_ctrl_d_exits_0_with_a_newline(tmp_path: Path) -> None:
    result = psabot("shell", "--sandbox", cwd=tmp_path, stdin="whoami\n", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("in #general> \n")


def test_sandbox_has_its_own_data_dir_each_run(tmp_path: Path) -> None:
    first = psabot(
        "shell",
        "--sandbox",
        cwd=tmp_path,
        stdin=f"link {OPEN_TICKET_ID}\nmap me\nnote Replaced the toner\n",
        env={"COLUMNS": "200"},
    )
    assert "Note added" in first.stdout, first.stdout + first.stderr
    second = psabot("shell", "--sandbox", cwd=tmp_path, stdin="history\n")
    assert "Nothing has been posted from chat" in second.stdout, second.stdout
    assert not (tmp_path / ".psabot").exists()  # `serve`'s data dir is untouched


def test_help_at_80_columns_in_the_real_shell(tmp_path: Path) -> None:
    result = psabot("shell", "--sandbox", cwd=tmp_path, stdin="help\n", env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    help_lines = lines[lines.index("Jane Doe in #general> help") :]
    assert max(len(line) for line in help_lines) <= 80
    assert "Shell commands" in result.stdout


def test_every_data_file_is_0600(tmp_path: Path) -> None:
    result = psabot("shell", cwd=tmp_path, stdin="help\n")
    assert result.returncode == 0, result.stderr
    data = tmp_path / ".psabot"
    files = list(data.iterdir())
    assert any(f.name == "psabot.sqlite3" for f in files)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_ticket_numbers_unfurl_in_a_linked_shell_channel(tmp_path: Path) -> None:
    """The terminal is read by its user alone, so cards are not refused as in shared channels."""
    result = psabot(
        "shell",
        "--sandbox",
        cwd=tmp_path,
        stdin=f"unfurl\nlink {OPEN_TICKET_ID}\nunfurl card #{CLOSED_TICKET_ID}\n",
        env={"COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "only your organisation reads this channel" in " ".join(result.stdout.split())
    assert "New hire onboarding" in result.stdout  # the closed ticket's card
    assert "Maria Lopez starts Monday" in result.stdout
