"""Block Kit rendering: content per alert kind, Slack limits, escaping of event data."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from eksguard.alerts import Actor, Fact, SourceRef
from eksguard.severity import Severity
from eksguard.slack.render import (
    HEADER_MAX,
    MAX_PAYLOAD_CHARS,
    TRUNCATION_MARKER,
    escape,
    render,
    render_plain,
    safe_mention,
    truncate,
)
from tests.slack_alerts import ALL_KINDS, INTRUDER, aws_auth_alert, eks_api_alert, stop_summary_alert

MENTION = "<!here>"


def all_blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = list(payload["blocks"])
    for attachment in payload.get("attachments", []):
        blocks.extend(attachment.get("blocks", []))
    return blocks


def assert_valid_block_kit(payload: dict[str, Any]) -> None:
    """slack_sdk's models enforce Slack's documented limits; to_dict() runs their validators."""
    assert len(payload["blocks"]) <= 50
    for block in all_blocks(payload):
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block
        if block["type"] == "section":
            assert len(block.get("fields", [])) <= 10
            for item in block.get("fields", []):
                assert len(item["text"]) <= 2000
    for attachment in payload.get("attachments", []):
        BlockAttachment(blocks=attachment["blocks"], color=attachment["color"]).to_dict()
    assert len(json.dumps(payload, ensure_ascii=False)) <= MAX_PAYLOAD_CHARS


def texts(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


# -------------------------------------------------------------------- per kind
@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_every_kind_renders_valid_block_kit_with_the_notification_line(kind: str) -> None:
    alert = ALL_KINDS[kind]()
    payload = render(alert, MENTION)

    assert_valid_block_kit(payload)
    assert payload["text"].startswith(f"[{alert.severity.name}] ")
    assert payload["text"].startswith(escape(alert.notification_text()))
    assert payload["attachments"][0]["color"] == alert.severity.colour
    header = payload["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"].startswith(alert.severity.emoji)
    assert payload["unfurl_links"] is False


def test_eks_api_alert_snapshot() -> None:
    payload = render(eks_api_alert(), MENTION)

    assert payload["text"] == (
        "[CRITICAL] prod: arn:aws:iam::111122223333:role/intruder granted AmazonEKSClusterAdminPolicy"
        " (cluster scope) <!here>"
    )
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: arn:aws:iam::111122223333:role/intruder granted "
            "AmazonEKSClusterAdminPolicy (cluster scope)",
            "emoji": True,
        },
    }
    assert payload["blocks"][1]["text"]["text"] == (
        "<!here> AssociateAccessPolicy gave cluster-admin to a principal that is not an expected admin."
    )
    fields = [f["text"] for f in payload["blocks"][2]["fields"]]
    assert fields == [
        "*Severity*\n:rotating_light: CRITICAL",
        "*Cluster*\n`prod`",
        f"*Principal*\n`{INTRUDER}`",
        "*Account / region*\n`111122223333 / eu-west-1`",
        "*Actor*\n`arn:aws:iam::111122223333:role/Admin`",
        "*Session*\n`jdoe`",
        "*From IP*\n`203.0.113.10`",
        "*User agent*\n`aws-cli/2.17.0 md/awscrt#0.20.11 ua/2.0 os/linux#6.1`",
        "*Time*\n<!date^1763630142^{date_short_pretty} {time_secs}|2025-11-20 09:15:42 UTC>",
    ]
    details = payload["attachments"][0]["blocks"]
    assert [f["text"] for f in details[0]["fields"]] == [
        "*Event*\n`AssociateAccessPolicy`",
        "*Policy*\n`arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`",
        "*Access scope*\n`cluster`",
    ]
    context = [e["text"] for e in details[-1]["elements"]]
    assert context[0] == (
        "Source: <https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/6f1c2a9e"
        "|cloudtrail: CloudTrail event 6f1c2a9e-0d5b-4a8f-9c1e-3b7d2f4e5a60>"
    )
    assert context[1] == f"eksguard eks-api alert `{eks_api_alert().id}`"


def test_aws_auth_alert_shows_the_diff_as_a_code_block_and_the_kubernetes_username() -> None:
    payload = render(aws_auth_alert(), MENTION)

    details = payload["attachments"][0]["blocks"]
    diff_block = details[1]["text"]["text"]
    assert diff_block.startswith("*mapRoles diff*\n```+ - rolearn: arn:aws:iam::111122223333:role/intruder\n")
    assert diff_block.endswith("+     - system:masters```")
    fields = [f["text"] for f in payload["blocks"][2]["fields"]]
    assert "*Username*\n`kubernetes-admin`" in fields
    assert "*Session*\n`mallory`" in fields
    assert len(fields) == 10


def test_stop_summary_without_cluster_or_actor_and_below_critical_has_no_mention() -> None:
    payload = render(stop_summary_alert(), MENTION)

    assert payload["text"] == "[MEDIUM] 111122223333/eu-west-1: Stopped 3 kubectl instances; 1 could not be stopped"
    assert "<!here>" not in texts(payload)
    fields = [f["text"] for f in payload["blocks"][2]["fields"]]
    assert fields[1:3] == ["*Cluster*\n_n/a_", "*Principal*\n_n/a_"]
    assert "*Actor*\n_unknown_" in fields
    context = payload["attachments"][0]["blocks"][-1]["elements"]
    assert context[0]["text"] == "Source: scheduler: eksguard stop run 2025-11-20T19:00Z"


def test_no_mention_configured_means_none_rendered() -> None:
    payload = render(eks_api_alert(), "")
    assert "<!" not in payload["text"]
    assert "<!here>" not in texts(payload)


# -------------------------------------------------------------------- escaping
def test_attacker_controlled_values_cannot_ping_or_link() -> None:
    hostile = "<!channel> <https://evil.example|click> & <@U0ADMIN>"
    alert = eks_api_alert(
        title=f"{INTRUDER} granted admin {hostile}",
        summary=f"summary {hostile}",
        actor=Actor(
            arn="arn:aws:iam::111122223333:role/Admin",
            session_name=hostile,
            user_agent=hostile,
            source_ip="<!everyone>",
        ),
        facts=(Fact(f"label {hostile}", f"value {hostile}"), Fact("long", "x\n" + hostile)),
        source=SourceRef(kind="cloudtrail", description=hostile, url="javascript:alert(1)"),
    )

    for payload in (render(alert, MENTION), {"text": render_plain(alert, MENTION)}):
        dumped = texts(payload)
        assert "<!channel>" not in dumped
        assert "<!everyone>" not in dumped
        assert "<@U0ADMIN>" not in dumped
        assert "<https://evil.example" not in dumped
        assert "javascript:" not in dumped
        assert "&lt;!channel&gt;" in dumped
        # the only real mention is the configured one
        assert re.findall(r"<![a-z]+>", dumped) == ["<!here>"] * dumped.count("<!here>")
        assert dumped.count("<!here>") >= 1


def test_header_is_plain_text_without_angle_brackets() -> None:
    alert = eks_api_alert(title="<!channel> & friends")
    header = render(alert)["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert header["text"].endswith("‹!channel› & friends")


def test_backticks_cannot_break_out_of_code_spans() -> None:
    alert = eks_api_alert(actor=Actor(arn="arn", session_name="a` <!channel> `b"))
    fields = render(alert)["blocks"][2]["fields"]
    session = next(f["text"] for f in fields if f["text"].startswith("*Session*"))
    assert session == "*Session*\n`aˋ &lt;!channel&gt; ˋb`"


@pytest.mark.parametrize(
    ("mention", "expected"),
    [
        ("<!here>", "<!here>"),
        ("<!channel>", "<!channel>"),
        ("<@U0123ABC> <!subteam^S0456DEF>", "<@U0123ABC> <!subteam^S0456DEF>"),
        ("@oncall", "@oncall"),
        ("<https://evil.example|x>", "&lt;https://evil.example|x&gt;"),
    ],
)
def test_configured_mention_kept_only_when_well_formed(mention: str, expected: str) -> None:
    assert safe_mention(mention) == expected


def test_source_link_is_only_built_for_https_urls_and_cannot_be_split() -> None:
    alert = eks_api_alert(source=SourceRef("cloudtrail", "ev|ent", "https://example.com/a|b>c"))
    element = render(alert)["attachments"][0]["blocks"][-1]["elements"][0]["text"]
    assert element == "Source: <https://example.com/a%7Cb%3Ec|cloudtrail: ev¦ent>"


# -------------------------------------------------------------------- limits
def test_truncate_marks_the_cut_and_never_splits_an_entity() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("a" * 20 + "&amp;" + "b" * 50, 35)
    assert cut.endswith(TRUNCATION_MARKER)
    assert len(cut) <= 35
    assert not re.search(r"&[a-z]*…", cut)


def test_oversize_alert_is_truncated_visibly_and_stays_within_limits() -> None:
    huge = "y" * 20_000
    alert = aws_auth_alert(
        title="T" * 400,
        summary="S" * 10_000,
        actor=Actor(arn="arn:" + "a" * 5000, session_name="s" * 5000, user_agent="u" * 5000),
        facts=tuple(Fact(f"fact {i}", "v" * 150) for i in range(120)) + (Fact("diff", huge),),
    )
    payload = render(alert, MENTION)

    assert_valid_block_kit(payload)
    assert len(payload["blocks"][0]["text"]["text"]) <= HEADER_MAX
    assert payload["blocks"][0]["text"]["text"].endswith(TRUNCATION_MARKER)
    assert payload["blocks"][1]["text"]["text"].endswith(TRUNCATION_MARKER)
    assert len(all_blocks(payload)) <= 50
    context = payload["attachments"][0]["blocks"][-1]["elements"][0]["text"]
    assert context.startswith(f"{TRUNCATION_MARKER}: ")
    assert "more detail(s) not shown" in context
    assert payload["text"].startswith("[CRITICAL] prod: ")


def test_single_huge_fact_is_shortened_in_place() -> None:
    alert = aws_auth_alert(facts=(Fact("mapRoles diff", "line\n" * 5000),))
    payload = render(alert)
    assert_valid_block_kit(payload)
    diff = payload["attachments"][0]["blocks"][0]["text"]["text"]
    assert diff.startswith("*mapRoles diff*\n```line")
    assert diff.endswith(TRUNCATION_MARKER + "```")


def test_many_short_facts_are_split_ten_fields_per_section() -> None:
    alert = stop_summary_alert(facts=tuple(Fact(f"i-{i:017x}", "stopped") for i in range(25)))
    payload = render(alert)
    assert_valid_block_kit(payload)
    sections = [b for b in payload["attachments"][0]["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 10, 5]


def test_unparseable_time_is_shown_escaped() -> None:
    payload = render(eks_api_alert(time="yesterday <b>"))
    fields = [f["text"] for f in payload["blocks"][2]["fields"]]
    assert "*Time*\nyesterday &lt;b&gt;" in fields


# -------------------------------------------------------------------- plain text
def test_plain_fallback_keeps_the_notification_line_and_the_essentials() -> None:
    alert = aws_auth_alert()
    plain = render_plain(alert, MENTION)
    lines = plain.splitlines()
    assert lines[0] == f"{alert.notification_text()} <!here>"
    assert "Principal: arn:aws:iam::111122223333:role/intruder" in lines
    assert any(
        line.startswith("Actor: arn:aws:iam::111122223333:role/Admin (session mallory) from 198.51.100.7")
        for line in lines
    )
    assert f"Alert id: {alert.id}" in lines


def test_plain_fallback_is_bounded() -> None:
    alert = aws_auth_alert(summary="S" * 50_000, facts=tuple(Fact(str(i), "v" * 500) for i in range(500)))
    plain = render_plain(alert)
    assert len(plain) <= 3500
    assert plain.endswith(TRUNCATION_MARKER)


@pytest.mark.parametrize("severity", list(Severity))
def test_every_severity_renders(severity: Severity) -> None:
    alert = replace(eks_api_alert(), severity=severity)
    payload = render(alert, MENTION)
    assert_valid_block_kit(payload)
    assert payload["text"].startswith(f"[{severity.name}] prod: ")
    assert ("<!here>" in payload["text"]) is (severity is Severity.CRITICAL)
    assert isinstance(Block.parse(payload["blocks"][0]), HeaderBlock)
    assert isinstance(Block.parse(payload["blocks"][1]), SectionBlock)
