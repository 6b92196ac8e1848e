"""One neutral reply text, three renderings; one Mention from three transports' markup."""

from __future__ import annotations

import json

from bot.core.invocation import Mention, humanize_mentions, mentions_in
from bot.core.markup import bold, command, link
from bot.core.reply import Reply
from bot.shell.render import plain, render
from bot.slack.blocks import mrkdwn, reply_blocks
from bot.slack.text import from_slack
from bot.teams.cards import reply_card
from bot.teams.inbound import command_text
from bot.teams.markup import to_markdown, to_plain
from handlers import root_router
from handlers.help import help_card

TEXT = (
    f"Status of {link('https://cw.example/t?id=7&x=1', 'Ticket #7')} is now "
    f"{bold('Waiting on Customer')}. Change it with {command('status <name>')}."
)


def test_slack_gets_mrkdwn_with_its_slash_command() -> None:
    assert mrkdwn(TEXT) == (
        "Status of <https://cw.example/t?id=7&amp;x=1|Ticket #7> is now "
        "*Waiting on Customer*. Change it with `/ticket status &lt;name&gt;`."
    )


def test_teams_gets_textblock_markdown_and_its_own_prefix() -> None:
    assert to_markdown(TEXT) == (
        "Status of [Ticket #7](https://cw.example/t?id=7&x=1) is now "
        "**Waiting on Customer**. Change it with ‘ticket status <name>’."
    )
    assert to_plain(TEXT) == (
        "Status of Ticket #7 (https://cw.example/t?id=7&x=1) is now "
        "Waiting on Customer. Change it with ticket status <name>."
    )


def test_the_shell_gets_plain_text() -> None:
    assert plain(TEXT) == (
        "Status of Ticket #7 (https://cw.example/t?id=7&x=1) is now "
        "Waiting on Customer. Change it with `/ticket status <name>`."
    )


def test_text_that_is_not_markup_passes_through() -> None:
    odd = "2 * 3 = 6, [draft] (see below), a*b*c and {name}"
    assert plain(odd) == odd
    assert to_plain(odd) == odd
    assert mrkdwn(odd) == odd


def test_a_link_label_cannot_break_out_of_the_link() -> None:
    text = link("https://cw.example/1", "[x](https://evil.example) | <b>")
    assert mrkdwn(text) == "<https://cw.example/1|(x)(https://evil.example) ¦ ‹b›>"
    assert plain(text) == "(x)(https://evil.example) | <b> (https://cw.example/1)"


def test_every_transport_hands_the_handlers_the_same_mention() -> None:
    jane = Mention("U123", "jane")
    slack = from_slack("owners add <@U123|jane>").removeprefix("owners add ")
    teams = command_text(
        {
            "text": "<at>psabot</at> owners add <at>jane</at>",
            "recipient": {"id": "28:bot"},
            "entities": [
                {"type": "mention", "text": "<at>psabot</at>", "mentioned": {"id": "28:bot"}},
                {
                    "type": "mention",
                    "text": "<at>jane</at>",
                    "mentioned": {"id": "29:x", "aadObjectId": "U123", "name": "Jane"},
                },
            ],
        }
    ).removeprefix("owners add ")
    assert Mention.parse(slack) == jane
    assert Mention.parse(teams) == jane
    assert Mention.parse("jane") is None
    assert mentions_in(f"ping {jane.token} and {Mention('U9').token}") == [jane, Mention("U9")]
    assert humanize_mentions(f"thanks {jane.token}") == "thanks @jane"


def test_help_shows_each_transports_own_command_prefix() -> None:
    card = help_card(root_router().commands)
    reply = Reply.info("", card)
    slack = json.dumps(reply_blocks(reply)[1])
    teams = json.dumps(reply_card(reply), ensure_ascii=False)
    shell = "\n".join(render(reply, [], width=100))
    assert "/ticket note" in slack and "{cmd}" not in slack
    assert "/ticket note" in shell and "{cmd}" not in shell
    assert "ticket note" in teams and "/ticket" not in teams and "{cmd}" not in teams
