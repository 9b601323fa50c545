"""Block Kit rendering: content per alert kind, Slack limits, escaping of event data."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from eksguard.alerts import Actor, Fact, SourceRef
from eksguard.severity import Severity
from eksguard.slack.render import (
    HEADER_MAX,
    MAX_PAYLOAD_CHARS,
    SEVERITY_ICON,
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


def main_fields(payload: dict[str, Any]) -> list[str]:
    """The first fields section of the message (after the header, the optional mention and the summary)."""
    section = next(b for b in payload["blocks"] if "fields" in b)
    return [f["text"] for f in section["fields"]]


def summary_text(payload: dict[str, Any]) -> dict[str, Any]:
    """The summary section's text object: the first section that is plain_text."""
    return next(
        b["text"] for b in payload["blocks"] if b["type"] == "section" and b.get("text", {}).get("type") == "plain_text"
    )


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
    assert header["text"]["text"].startswith(SEVERITY_ICON[alert.severity])
    assert header["text"]["emoji"] is False
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
            "text": "\N{POLICE CARS REVOLVING LIGHT} arn:aws:iam::111122223333:role/intruder granted "
            "AmazonEKSClusterAdminPolicy (cluster scope)",
            "emoji": False,
        },
    }
    # the configured mention is its own mrkdwn section; the summary is plain_text (never parsed)
    assert payload["blocks"][1] == {"type": "section", "text": {"type": "mrkdwn", "text": "<!here>", "verbatim": True}}
    assert payload["blocks"][2] == {
        "type": "section",
        "text": {
            "type": "plain_text",
            "text": "AssociateAccessPolicy gave cluster-admin to a principal that is not an expected admin.",
            "emoji": False,
        },
    }
    fields = [f["text"] for f in payload["blocks"][3]["fields"]]
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
    fields = main_fields(payload)
    assert "*Username*\n`kubernetes-admin`" in fields
    assert "*Session*\n`mallory`" in fields
    assert len(fields) == 10


def test_stop_summary_without_cluster_or_actor_and_below_critical_has_no_mention() -> None:
    payload = render(stop_summary_alert(), MENTION)

    assert payload["text"] == "[MEDIUM] 111122223333/eu-west-1: Stopped 3 kubectl instances; 1 could not be stopped"
    assert "<!here>" not in texts(payload)
    fields = main_fields(payload)
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
    fields = main_fields(render(alert))
    session = next(f for f in fields if f.startswith("*Session*"))
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


def test_source_link_is_only_built_for_https_console_urls_and_cannot_be_split() -> None:
    # Changed: any https host used to be linked; now only AWS console hosts are (a forged source can't link out).
    url = "https://eu-west-1.console.aws.amazon.com/a|b>c"
    alert = eks_api_alert(source=SourceRef("cloudtrail", "ev|ent", url))
    element = render(alert)["attachments"][0]["blocks"][-1]["elements"][0]["text"]
    assert element == "Source: <https://eu-west-1.console.aws.amazon.com/a%7Cb%3Ec|cloudtrail: ev¦ent>"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a",
        "https://console.aws.amazon.com.evil.example/x",
        "https://console.aws.amazon.com@evil.example/x",
        "http://eu-west-1.console.aws.amazon.com/x",
        "https://evilconsole.aws.amazon.com/x",
        "https://console.aws.amazon.com:bad/x",
    ],
)
def test_source_link_to_anything_but_the_aws_console_is_shown_as_text(url: str) -> None:
    alert = eks_api_alert(source=SourceRef("cloudtrail", "event", url))
    for text in (render(alert)["attachments"][0]["blocks"][-1]["elements"][0]["text"], render_plain(alert)):
        assert "<http" not in text
        assert "evil.example" not in text


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
    assert summary_text(payload)["text"].endswith(TRUNCATION_MARKER)
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


def test_unparseable_time_is_shown_escaped_in_a_code_span() -> None:
    # Changed: it was bare mrkdwn, where a time such as "> x" opened a quote.
    payload = render(eks_api_alert(time="yesterday <b>"))
    fields = main_fields(payload)
    assert "*Time*\n`yesterday &lt;b&gt;`" in fields


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


def test_plain_fallback_cut_never_leaves_the_console_link_open() -> None:
    url = "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/" + "e" * 300
    for pad in range(0, 600, 7):  # move the cut across the source line
        facts = (*[Fact(f"f{i}", "v" * 290) for i in range(3)], Fact("pad", "p" * pad))
        alert = eks_api_alert(summary="s" * 2000, facts=facts, source=SourceRef("cloudtrail", "event", url))
        plain = render_plain(alert)
        assert len(plain) <= 3500
        rest = plain.replace("<!here>", "")
        assert rest.count("<") == rest.count(">") == rest.count("<https://eu-west-1.console.aws.amazon.com/"), pad


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
    assert all(isinstance(Block.parse(b), SectionBlock) for b in payload["blocks"][1:])


# -------------------------------------------------------------------- hostile text, everywhere
# Strings an attacker can put in an IAM role or session name, a Kubernetes user or group, a user agent or
# a ConfigMap; each would format, ping, link or quote if Slack parsed it.
HOSTILE = (
    "*pwned*",
    "_x_",
    "~y~",
    "https://evil.example/login",
    "evil.example.com",
    "www.evil.example",
    "user@evil.example",
    "mailto:user@evil.example",
    "slack://open?team=T0",
    "evil。example",
    "@here",
    "@channel",
    "@everyone",
    "<!channel>",
    "<!here|here>",
    "<@U0ADMIN>",
    "<#C0GENERAL|general>",
    "<!subteam^S0ADMIN>",
    "<!date^0^{date}|x>",
    "<https://evil.example|click>",
    "&lt;!channel&gt;",
    "#general",
    ":skull:",
    "x:skull:",
    "`",
    "```",
    "```rm -rf /```",
    "> quoted",
    "&gt; quoted",
    ">>> all quoted",
    "a\n> b\n&gt; c",
    "a\r\n>>> b\u2028> c",
    " *lead* ",
    "x|y",
    "*bold* _it_ ~st~ `c` :tada: @here #general https://evil.example",
)
CONFIGURED_MENTION = "<!here>"
SEVERITY_SHORTCODES = tuple(s.emoji for s in Severity)

# Manual parsing strings the renderer itself builds (not event text): the configured mention, the localised
# date (from a parsed timestamp) and the source link (https AWS console hosts only).
ALLOWED_TOKENS = re.compile(
    re.escape(CONFIGURED_MENTION)
    + r"|<!date\^-?\d+\^\{date_short_pretty\} \{time_secs\}\|[0-9: -]+UTC>"
    + r"|<https://(?:[a-z0-9-]+\.)*console\.aws\.amazon\.com(?:[/?#][^|<>\s]*)?\|[^<>]*>"
)
CODE = re.compile(r"```[^`]*```|`[^`\n]+`")
FIXED_ITALICS = re.compile(r"_(?:n/a|unknown|empty)_")
LABEL = re.compile(r"^\*([^*\n]+)\*(?=\n|$)")
EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
WORD_START_SIGIL = re.compile(r"(?<![A-Za-z0-9])[@#]")
SHORTCODE_ANYWHERE = re.compile(r":[A-Za-z0-9_+'-]*[A-Za-z][A-Za-z0-9_+'-]*:")
SHORTCODE_AT_WORD_START = re.compile(r"(?<![A-Za-z0-9]):[A-Za-z0-9_+'-]*[A-Za-z][A-Za-z0-9_+'-]*:")
DOMAIN_DOT = re.compile(r"(?<=\w)[.\u3002\uff0e\uff61](?=[^\W\d_])")
QUOTE_LINE = re.compile(r"^\s*(?:&gt;|>)", re.MULTILINE)
# Formatting, mentions, channels and shortcodes only count at a word edge (`user@here`, `0_x_0` are inert); the
# checks above cover those. These must not appear at all.
NEEDLES = ("://", "evil.example", "<!", "<@", "<#", "<http")


def hostile_alert(text: str, severity: Severity = Severity.CRITICAL) -> Any:
    """Every text field of an alert filled with `text` (variants keep the fields apart)."""
    return eks_api_alert(
        id=f"id {text}",
        kind=f"kind {text}",
        severity=severity,
        title=f"{text} granted admin",
        summary=f"{text}\nsecond line {text}",
        cluster=text,
        principal=f"arn:aws:iam::111122223333:role/{text}",
        account=text,
        region=text,
        time=text,
        actor=Actor(
            arn=f"arn:aws:sts::111122223333:assumed-role/r/{text}",
            session_name=text,
            username=f"k8s {text}",
            source_ip=text,
            user_agent=f"ua {text}",
        ),
        facts=(
            Fact(text, text),
            Fact(f"label {text}", f"value {text}"),
            Fact(f"diff {text}", f"+ {text}\n- {text}\n{text}"),
            Fact("long", text * 40 or "x" * 300),
        ),
        source=SourceRef(kind=text, description=f"event {text}", url=f"https://evil.example/{text}"),
    )


def text_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") in ("mrkdwn", "plain_text") and "text" in node else []
        return found + [obj for value in node.values() for obj in text_objects(value)]
    if isinstance(node, list):
        return [obj for item in node for obj in text_objects(item)]
    return []


def assert_inert_prose(prose: str, *, strict_shortcodes: bool, where: str) -> None:
    """Text Slack parses as mrkdwn, outside our own tokens and code: nothing may format, ping, link or quote."""
    assert "<" not in prose and ">" not in prose, where
    for char in "*~`":
        assert char not in prose, (char, where)
    assert not EDGE_UNDERSCORE.search(prose), where
    assert not WORD_START_SIGIL.search(prose), where
    assert not (SHORTCODE_ANYWHERE if strict_shortcodes else SHORTCODE_AT_WORD_START).search(prose), where
    assert not DOMAIN_DOT.search(prose), where
    assert not QUOTE_LINE.search(prose), where
    for needle in NEEDLES:
        assert needle not in prose, (needle, where)


def assert_payload_is_inert(alert: Any, mention: str = CONFIGURED_MENTION) -> None:
    payload = render(alert, mention)
    assert_valid_block_kit(payload)
    critical = alert.severity is Severity.CRITICAL and mention == CONFIGURED_MENTION

    for obj in text_objects(payload):
        text = obj["text"]
        if obj["type"] == "plain_text":
            # Slack parses only mrkdwn objects (text object reference); brackets and URLs are defused anyway.
            assert obj.get("emoji") is False, obj
            assert "<" not in text and ">" not in text, obj
            assert "://" not in text and not DOMAIN_DOT.search(text), obj
            continue
        assert obj.get("verbatim") is True, obj
        prose = ALLOWED_TOKENS.sub(" ", text)
        prose = CODE.sub(" ", prose)
        label = LABEL.match(prose)
        if label:  # our bold label: its text is checked, the line still opens with `*`, not with the label
            prose = "label " + label.group(1) + prose[label.end() :]
        prose = FIXED_ITALICS.sub(" ", prose)
        for shortcode in SEVERITY_SHORTCODES:
            prose = prose.replace(f"\n{shortcode} ", "\n")
        assert_inert_prose(prose, strict_shortcodes=True, where=text)

    top = payload["text"]
    assert top.startswith(f"[{alert.severity.name}] ")
    assert "\n" not in top
    assert top.endswith(f" {CONFIGURED_MENTION}") is critical
    for where in (top, render_plain(alert, mention)):
        assert_inert_prose(ALLOWED_TOKENS.sub(" ", where), strict_shortcodes=False, where=where)

    # the configured mention is the only one, once in the notification line and once in its own section
    dumped = texts(payload)
    assert dumped.count(CONFIGURED_MENTION) == (2 if critical else 0)
    assert render_plain(alert, mention).count(CONFIGURED_MENTION) == (1 if critical else 0)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_every_field_is_shown_never_parsed(hostile: str) -> None:
    assert_payload_is_inert(hostile_alert(hostile))
    assert_payload_is_inert(hostile_alert(hostile, Severity.HIGH))
    assert_payload_is_inert(hostile_alert(hostile), mention="")
    # with a real console link, the hostile source description is its label
    console = "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/" + hostile
    alert = replace(hostile_alert(hostile), source=SourceRef(hostile, hostile, console))
    assert_payload_is_inert(alert)
    assert "<https://eu-west-1.console.aws.amazon.com/" in texts(render(alert))


def test_control_and_bidi_characters_are_shown_not_obeyed() -> None:
    text = "admin\u202enimda\x1b[31m\x00"
    payload = render(eks_api_alert(summary=text, actor=Actor(arn="arn", session_name=text)))
    assert summary_text(payload)["text"] == "admin\ufffdnimda\u241b[31m\u2400"
    assert "*Session*\n`admin\ufffdnimda\u241b[31m\u2400`" in main_fields(payload)


def test_quotes_count_as_sent_so_the_payload_stays_within_limits() -> None:
    quotes = '"\\' * 6000
    alert = aws_auth_alert(title=quotes, summary=quotes, actor=Actor(arn=quotes, session_name=quotes))
    payload = render(alert)
    assert_valid_block_kit(payload)
    assert summary_text(payload)["text"].endswith(TRUNCATION_MARKER)


def test_hostile_text_still_reads_the_same() -> None:
    """Values keep their characters: in code spans as typed (escaped), in plain_text with look-alike brackets."""
    text = "*pwned* _x_ <!channel> https://evil.example/login :skull:"
    payload = render(eks_api_alert(summary=text, actor=Actor(arn="arn", session_name=text)), CONFIGURED_MENTION)
    assert summary_text(payload)["text"] == "*pwned* _x_ ‹!channel› https꞉//evil․example/login :skull:"
    assert "*Session*\n`*pwned* _x_ &lt;!channel&gt; https://evil.example/login :skull:`" in main_fields(payload)
    line = render_plain(eks_api_alert(title=text), CONFIGURED_MENTION).splitlines()[0]
    assert line == "[CRITICAL] prod: ∗pwned∗ ˍxˍ &lt;!channel&gt; https꞉//evil․example/login ꞉skull: <!here>"


def test_arns_user_agents_and_ips_are_left_untouched_outside_code() -> None:
    alert = aws_auth_alert(title="arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0a1b granted admin")
    assert render(alert)["text"] == f"[CRITICAL] prod: {alert.title}"
    plain = render_plain(alert)
    assert "kubectl/v1.31.0 (linux/amd64) kubernetes/abc1234" in plain
    assert "from 198.51.100.7" in plain


def test_multi_line_values_in_the_plain_fallback_cannot_start_a_quote() -> None:
    plain = render_plain(aws_auth_alert(summary="ok\n> quoted\n>>> rest"))
    assert "Summary: ok\n│ &gt; quoted\n│ &gt;&gt;&gt; rest" in plain
    assert not QUOTE_LINE.search(plain)


HOSTILE_ALPHABET = st.sampled_from(list("*_~`<>&@#:!|/.\\^-+'\"\n\r\t\x1b\u2028\u202e ") + list("aZ09。"))
HOSTILE_TEXT = st.one_of(
    st.text(alphabet=HOSTILE_ALPHABET, max_size=40),
    st.lists(st.sampled_from(HOSTILE), max_size=4).map(" ".join),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=HOSTILE_ALPHABET, max_size=6)), max_size=6).map(
        "".join
    ),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE_TEXT, severity=st.sampled_from(list(Severity)))
def test_generated_hostile_text_never_formats_pings_or_links(text: str, severity: Severity) -> None:
    assert_payload_is_inert(hostile_alert(text, severity))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE_TEXT)
def test_oversize_hostile_alert_stays_inert_and_within_limits(text: str) -> None:
    alert = hostile_alert(text * 50 + "x" * 4000)
    console = "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home#/events/" + text
    alert = replace(alert, facts=alert.facts * 40, source=SourceRef(text, text * 20, console))
    assert_payload_is_inert(alert)  # with the plain fallback cut short, the console link is never left open
    assert len(render_plain(alert)) <= 3500
