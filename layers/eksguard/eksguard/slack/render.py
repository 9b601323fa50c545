"""Alert -> Slack message (Block Kit), pure and total: any alert renders, oversize parts are cut.

Every value that comes from an event (titles, ARNs, session names, user agents, facts) is
escaped for mrkdwn (`&`, `<`, `>`), so a crafted session name such as `<!channel>` is shown,
not executed. Only the configured mention for CRITICAL alerts is emitted as a real mention.
Slack's limits (header 150, section text 3000, 10 fields per section, 50 blocks, ~13k
characters in total) are respected by truncating with a visible marker instead of failing:
an alert that Slack rejects is an alert nobody sees.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from eksguard.alerts import Alert, Fact
from eksguard.severity import Severity

TRUNCATION_MARKER = "… (truncated)"

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_PER_SECTION = 10
CONTEXT_ELEMENTS_MAX = 10
MAX_BLOCKS = 50
# Slack documents ~13.2k characters for a whole message; stay well below.
MAX_PAYLOAD_CHARS = 12_000
TEXT_MAX = 3000
PLAIN_TEXT_MAX = 3500

SUMMARY_MAX = 2500
FIELD_VALUE_MAX = 300
SHORT_FACT_MAX = 200
MAX_FACTS_CONSIDERED = 200

_MENTION_TOKEN = re.compile(
    r"^<(?:!here|!channel|!everyone|@[UW][A-Z0-9]+|#C[A-Z0-9]+|!subteam\^[A-Z0-9]+)(?:\|[^<>|]*)?>$"
)
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")


def escape(value: object) -> str:
    """Escape the three characters mrkdwn treats as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut `text` to `limit` characters with a visible marker, never splitting an `&amp;` entity."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    head = text[: limit - len(marker)]
    head = _ENTITY_TAIL.sub("", head)
    return head + marker


def code(value: object, limit: int = FIELD_VALUE_MAX) -> str:
    """An inline code span: keeps ARNs readable and stops Slack auto-linking URLs in event data."""
    inner = escape(value).replace("`", "ˋ").replace("\n", " ")
    return f"`{truncate(inner, max(limit - 2, 1))}`"


def code_block(value: object, limit: int) -> str:
    inner = escape(value).replace("`", "ˋ")
    return f"```{truncate(inner, max(limit - 6, 1))}```"


def safe_mention(mention: str) -> str:
    """Keep well-formed Slack mentions (`<!here>`, `<@U123>`, `<!subteam^S1>`); show anything else as text."""
    tokens = []
    for token in mention.split():
        tokens.append(token if _MENTION_TOKEN.match(token) else escape(token))
    return " ".join(tokens)


def _is_https(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def safe_link(url: str | None, label: str) -> str:
    """`<url|label>` for an https URL, else the escaped label: event data never builds arbitrary links."""
    if url and _is_https(url):
        target = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
        return f"<{target}|{escape(label).replace('|', '¦')}>"
    return escape(label)


def slack_date(iso_time: str) -> str:
    """Slack renders `<!date^...>` in each reader's time zone; the ISO string is the fallback."""
    try:
        moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return escape(iso_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def notification_line(alert: Alert, mention: str = "") -> str:
    """Top-level `text`: `[SEVERITY] cluster: title`, escaped, plus the mention for CRITICAL alerts."""
    text = truncate(escape(alert.notification_text()), TEXT_MAX - 200)
    extra = _mention_for(alert, mention)
    return f"{text} {extra}" if extra else text


def _mention_for(alert: Alert, mention: str) -> str:
    if alert.severity is Severity.CRITICAL and mention.strip():
        return safe_mention(mention.strip())
    return ""


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, SECTION_TEXT_MAX))}


def _field(label: str, value_mrkdwn: str) -> dict[str, Any]:
    return _mrkdwn(truncate(f"*{escape(label)}*\n{value_mrkdwn}", FIELD_TEXT_MAX))


def _size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def _header(alert: Alert) -> dict[str, Any]:
    # plain_text is not parsed as mrkdwn, and entities would show literally; angle brackets are
    # still swapped for look-alikes so no reading of the header can form a mention or a link.
    title = " ".join(alert.title.split()).replace("<", "‹").replace(">", "›")
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(f"{alert.severity.emoji} {title}", HEADER_MAX), "emoji": True},
    }


def _actor_fields(alert: Alert) -> list[dict[str, Any]]:
    actor = alert.actor
    if actor is None:
        return [_field("Actor", "_unknown_")]
    fields = [_field("Actor", code(actor.arn or actor.username or "unknown actor"))]
    if actor.arn and actor.username and actor.username != actor.arn:
        fields.append(_field("Username", code(actor.username)))
    if actor.session_name:
        fields.append(_field("Session", code(actor.session_name)))
    if actor.source_ip:
        fields.append(_field("From IP", code(actor.source_ip)))
    if actor.user_agent:
        fields.append(_field("User agent", code(actor.user_agent)))
    return fields


def _main_fields(alert: Alert) -> list[dict[str, Any]]:
    fields = [
        _field("Severity", f"{alert.severity.emoji} {alert.severity.name}"),
        _field("Cluster", code(alert.cluster) if alert.cluster else "_n/a_"),
        _field("Principal", code(alert.principal) if alert.principal else "_n/a_"),
    ]
    where = " / ".join(p for p in (alert.account, alert.region) if p)
    if where:
        fields.append(_field("Account / region", code(where)))
    fields.extend(_actor_fields(alert))
    fields.append(_field("Time", slack_date(alert.time)))
    return fields[:FIELDS_PER_SECTION]


def _is_short(fact: Fact) -> bool:
    return len(fact.value) <= SHORT_FACT_MAX and "\n" not in fact.value


def _fact_blocks(facts: tuple[Fact, ...]) -> list[dict[str, Any]]:
    """Short facts become fields (10 per section); long or multi-line facts get their own code block."""
    blocks: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            blocks.append({"type": "section", "fields": list(pending)})
            pending.clear()

    for fact in facts[:MAX_FACTS_CONSIDERED]:
        if _is_short(fact):
            pending.append(_field(fact.label, code(fact.value)))
            if len(pending) == FIELDS_PER_SECTION:
                flush()
        else:
            flush()
            label = f"*{escape(fact.label)}*\n"
            blocks.append(_section(label + code_block(fact.value, SECTION_TEXT_MAX - len(label))))
    flush()
    return blocks


def _shrink_section(block: dict[str, Any], max_chars: int) -> dict[str, Any] | None:
    """A smaller copy of a long-fact section that fits `max_chars`, or None."""
    text = block.get("text", {}).get("text") if block.get("type") == "section" else None
    if not isinstance(text, str) or not text.endswith("```"):
        return None
    overhead = _size(block) - len(text)
    allowed = max_chars - overhead
    if allowed < 200:
        return None
    body = text[:-3]
    return {"type": "section", "text": _mrkdwn(truncate(body, allowed - 3) + "```")}


def _context(alert: Alert, omitted: int) -> dict[str, Any]:
    elements = []
    if omitted:
        elements.append(_mrkdwn(f"{TRUNCATION_MARKER}: {omitted} more detail(s) not shown; see the source event."))
    if alert.source:
        label = f"{alert.source.kind}: {alert.source.description}"
        elements.append(_mrkdwn(truncate(f"Source: {safe_link(alert.source.url, label)}", FIELD_VALUE_MAX * 3)))
    elements.append(_mrkdwn(f"eksguard {escape(alert.kind)} alert {code(alert.id, 80)}"))
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS_MAX]}


def render(alert: Alert, mention: str = "") -> dict[str, Any]:
    """The Block Kit payload for an incoming webhook: `text`, `blocks` and a coloured attachment."""
    text = notification_line(alert, mention)
    summary = escape(alert.summary) if alert.summary else escape(alert.title)
    lead = _mention_for(alert, mention)
    summary_text = truncate(summary, SUMMARY_MAX)
    if lead:
        summary_text = f"{lead} {summary_text}"
    blocks: list[dict[str, Any]] = [
        _header(alert),
        _section(summary_text),
        {"type": "section", "fields": _main_fields(alert)},
    ]

    base_context = _context(alert, 0)
    used = _size({"text": text, "blocks": blocks}) + _size(base_context) + 300
    budget = MAX_PAYLOAD_CHARS - used
    detail_blocks: list[dict[str, Any]] = []
    candidates = _fact_blocks(alert.facts)
    max_detail = MAX_BLOCKS - len(blocks) - 1
    omitted = 0
    for index, block in enumerate(candidates):
        size = _size(block)
        if len(detail_blocks) < max_detail and size <= budget:
            detail_blocks.append(block)
            budget -= size
            continue
        shrunk = _shrink_section(block, budget) if len(detail_blocks) < max_detail else None
        if shrunk is not None:
            detail_blocks.append(shrunk)
            budget -= _size(shrunk)
            omitted = sum(_facts_in(b) for b in candidates[index + 1 :])
        else:
            omitted = sum(_facts_in(b) for b in candidates[index:])
        break
    omitted += max(0, len(alert.facts) - MAX_FACTS_CONSIDERED)

    attachment_blocks = [*detail_blocks, _context(alert, omitted)]
    return {
        "text": text,
        "blocks": blocks,
        "attachments": [{"color": alert.severity.colour, "blocks": attachment_blocks}],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _facts_in(block: dict[str, Any]) -> int:
    return len(block["fields"]) if "fields" in block else 1


def render_plain(alert: Alert, mention: str = "") -> str:
    """Degraded plain-text message for when Slack rejects the blocks: same facts, no Block Kit."""
    lines = [notification_line(alert, mention)]
    if alert.summary:
        lines.append(escape(alert.summary))
    lines.append(f"Cluster: {escape(alert.cluster or 'n/a')}")
    lines.append(f"Principal: {escape(alert.principal or 'n/a')}")
    if alert.actor:
        actor = escape(alert.actor.display())
        if alert.actor.source_ip:
            actor += f" from {escape(alert.actor.source_ip)}"
        if alert.actor.user_agent:
            actor += f" via {escape(truncate(alert.actor.user_agent, FIELD_VALUE_MAX))}"
        lines.append(f"Actor: {actor}")
    for fact in alert.facts[:MAX_FACTS_CONSIDERED]:
        lines.append(f"{escape(fact.label)}: {truncate(escape(fact.value), FIELD_VALUE_MAX)}")
    lines.append(f"Time: {escape(alert.time)}")
    if alert.source:
        source = f"Source: {escape(alert.source.kind)}: {escape(alert.source.description)}"
        if alert.source.url and _is_https(alert.source.url):
            source += f" {safe_link(alert.source.url, alert.source.url)}"
        lines.append(source)
    lines.append(f"Alert id: {escape(alert.id)}")
    return truncate("\n".join(lines), PLAIN_TEXT_MAX)


def plain_payload(alert: Alert, mention: str = "") -> dict[str, Any]:
    return {"text": render_plain(alert, mention), "unfurl_links": False, "unfurl_media": False}
