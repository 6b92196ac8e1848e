"""help: usage generated from the handlers' own usage lines and docstrings."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.reply import Card, Fact, Reply
from bot.core.router import CommandSpec, Router


def help_card(commands: list[CommandSpec]) -> Card:
    visible = [c for c in commands if not c.hidden]
    return Card(
        title="psabot: ConnectWise from chat",
        text="Type `{cmd} <command>`. A bare `{cmd}` shows the linked ticket.",
        facts=tuple(Fact(f"{{cmd}} {c.usage}", c.summary) for c in visible),
    )


def build(root: Router) -> Router:
    """A router whose `help` lists every command of `root` (including help itself)."""
    router = Router("help")

    @router.command("help", usage="help")
    async def show_help(request: Request) -> Reply:
        """Show this list."""
        return Reply.info("", help_card(root.commands))

    return router
