"""Alert -> Slack message (Block Kit), pure and total: any alert renders, oversize parts are cut.

Event data (titles, ARNs, Kubernetes and session names, user agents, ConfigMap diffs) is chosen by
whoever triggered the event, so none of it may format, mention, link or ping. Where each piece lands:

- header and summary: `plain_text` objects with `emoji: false`. Slack applies mrkdwn and special
  parsing only to `mrkdwn` objects ("plain_text ... with no formatting"); `emoji: false` keeps
  `:shortcodes:` literal. `<`/`>` become the look-alikes `‹`/`›`, so no reading can form a
  control sequence, and URL-shaped text is defanged (below) because no document promises that
  clients never linkify plain text.
- every `mrkdwn` object has `verbatim: true`: no auto-linked URLs, no linkified channel names, no
  automatically parsed mentions; only our own manual strings (`<!here>`, `<!date^..>`, the console
  link) are parsed. Formatting still applies under `verbatim`, so values sit in code spans or code
  blocks (escaped, backticks swapped for `ˋ`, spans kept on one line and trimmed), and labels pass
  through `literal()`.
- the CRITICAL mention is its own mrkdwn section and the only real mention (`safe_mention`).
- the top-level `text` (notification line) and the `plain_payload` fallback cannot use code spans
  or `verbatim`, and incoming webhooks ignore `parse`, so `literal()` makes the text itself inert:
  `&<>` escaped; `*`, `~`, backtick always and `_` at a word edge swapped for `∗ ∼ ˋ ˍ`; `@`/`#`
  at a word start for `＠`/`＃`; a word-start `:name:` gets `꞉` (U+A789); `://` becomes `꞉//`
  and a dot between a word and a letter (`evil.example`) becomes `․` (U+2024). In the plain
  fallback every line opens with fixed text (`Summary: `, `• label`, `│ ` for continued lines), so
  none can open with `&gt;` (a quote). ARNs, snake_case, IPs and versions are left byte-identical;
  a shortcode glued to a word (`x:skull:`) is left there, as breaking it would break `arn:aws:…`.
- everywhere: control characters and bidi overrides are shown as visible stand-ins (␛, �), and
  lengths are counted as sent in JSON (`"` and line breaks count twice), so no value can push the
  message past the limits below.
- the source link is only built for https AWS console hosts.

Sources: https://docs.slack.dev/messaging/formatting-message-text/ (escaping `&<>`, mrkdwn,
automatic parsing), https://docs.slack.dev/reference/block-kit/composition-objects/text-object
(`plain_text` vs `mrkdwn`, `emoji`, `verbatim`), https://api.slack.com/docs/formatting (URL
detection, `www.foo.com` included, is done by the server), and
https://gist.github.com/seanmarpo/723e18a4e2353188ea95f679ae30c3be (webhooks ignore `parse`).

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
URL_MAX = 1000

# Unicode, not shortcodes: the header is plain_text with `emoji: false`, so `:skull:` in a title stays text.
SEVERITY_ICON = {
    Severity.CRITICAL: "\N{POLICE CARS REVOLVING LIGHT}",
    Severity.HIGH: "\N{LARGE RED CIRCLE}",
    Severity.MEDIUM: "\N{LARGE ORANGE CIRCLE}",
    Severity.INFO: "\N{LARGE BLUE CIRCLE}",
}
# Hosts the source link may point at (AWS console, commercial, GovCloud, China); anything else is shown as text.
CONSOLE_HOSTS = ("console.aws.amazon.com", "console.amazonaws-us-gov.com", "console.amazonaws.cn")

_MENTION_TOKEN = re.compile(
    r"^<(?:!here|!channel|!everyone|@[UW][A-Z0-9]+|#C[A-Z0-9]+|!subteam\^[A-Z0-9]+)(?:\|[^<>|]*)?>$"
)
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")

# literal(): look-alikes that stop mrkdwn syntax while a reader sees the same text.
_FORMAT_LOOKALIKES = str.maketrans({"*": "∗", "~": "∼", "`": "ˋ"})
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # snake_case and ARNs keep theirs
_WORD_START_SIGIL = re.compile(r"(?<![A-Za-z0-9])[@#]")
_SIGIL_LOOKALIKE = {"@": "＠", "#": "＃"}
_SHORTCODE_NAME = r"[A-Za-z0-9_+'-]*[A-Za-z][A-Za-z0-9_+'-]*:"
_SHORTCODE_ANYWHERE = re.compile(rf":(?={_SHORTCODE_NAME})")
_SHORTCODE_AT_WORD_START = re.compile(rf"(?<![A-Za-z0-9]):(?={_SHORTCODE_NAME})")  # leaves `arn:aws:iam`
_URL_SCHEME_COLON = re.compile(r":(?=//)")
_DOMAIN_DOT = re.compile(r"(?<=\w)[.\u3002\uff0e\uff61](?=[^\W\d_])")
_LINE_CONTINUATION = "\n│ "
# Control characters would be invisible (and cost 6 characters each as JSON); bidi overrides would reorder
# what a reader sees. Both are shown as visible stand-ins; tab, CR and LF stay (line handling is per place).
_INVISIBLE: dict[int, str] = {
    **{code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in "\t\r\n"},
    0x7F: "\u2421",
    **{code: "\ufffd" for code in range(0x80, 0xA0)},
    **{code: "\ufffd" for code in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}
_JSON_TWO = frozenset('"\\\n\r\t\b\f')


def visible(value: object) -> str:
    return str(value).translate(_INVISIBLE)


def escape(value: object) -> str:
    """Escape the three characters mrkdwn treats as control characters."""
    return visible(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defang(text: str) -> str:
    """`https://evil.example` -> `https꞉//evil․example`: nothing left for a URL detector to find."""
    return _DOMAIN_DOT.sub("\u2024", _URL_SCHEME_COLON.sub("\ua789", text))


def one_line(text: str) -> str:
    return " ".join(text.splitlines())


def literal(value: object, *, arn_colons: bool = False) -> str:
    """Event text for mrkdwn outside a code span: escaped, and no formatting, mention, emoji or link.

    `arn_colons` only breaks shortcodes at a word start, so `arn:aws:iam::…` stays byte-identical
    (the notification line and plain fallback are pinned to the alert text by the delivery tests).
    """
    text = escape(value).translate(_FORMAT_LOOKALIKES)
    text = _EDGE_UNDERSCORE.sub("ˍ", text)
    text = _WORD_START_SIGIL.sub(lambda match: _SIGIL_LOOKALIKE[match.group()], text)
    shortcode = _SHORTCODE_AT_WORD_START if arn_colons else _SHORTCODE_ANYWHERE
    return defang(shortcode.sub("\ua789", text))


def plain(value: object) -> str:
    """Event text for a `plain_text` object: not parsed by Slack; angle brackets and URLs defused anyway."""
    return defang(visible(value).replace("<", "‹").replace(">", "›"))


def _json_cost(char: str) -> int:
    return 2 if char in _JSON_TWO else 6 if char < " " else 1


def encoded_len(text: str) -> int:
    """Length of `text` inside a JSON string (never less than its length in characters)."""
    return sum(map(_json_cost, text))


def truncate(text: str, limit: int, marker: str = TRUNCATION_MARKER, *, more: bool = False) -> str:
    """Cut `text` to `limit` characters with a visible marker, never splitting an `&amp;` entity.

    Characters are counted as they are sent (`"`, `\\` and line breaks take two in JSON), so a value
    made of quotes cannot push the payload past its budget. `more` says `text` was already clipped
    (see `_clip`): the marker is due even if what is left fits.
    """
    if not more and len(text) <= limit and encoded_len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    budget = limit - len(marker)
    cut = 0
    for char in text:
        budget -= _json_cost(char)
        if budget < 0:
            break
        cut += 1
    head = _ENTITY_TAIL.sub("", text[:cut])
    return head + marker


def _clip(raw: str, limit: int) -> tuple[str, bool]:
    """The first `limit + 1` characters (all a cut to `limit` can keep) and whether more were dropped.

    Escaping only lengthens text, so clipping first is exact and keeps a 1 MiB ConfigMap diff cheap.
    """
    return raw[: limit + 1], len(raw) > limit + 1


def literal_cut(value: object, limit: int, *, arn_colons: bool = False) -> str:
    """`literal()` cut to `limit`; a cut can leave `_` at a word edge, so that one is swapped too."""
    clipped, more = _clip(str(value), limit)
    return _EDGE_UNDERSCORE.sub("ˍ", truncate(literal(clipped, arn_colons=arn_colons), limit, more=more))


def code(value: object, limit: int = FIELD_VALUE_MAX) -> str:
    """An inline code span: no formatting inside, one line, trimmed so Slack always sees a span."""
    room = max(limit - 2, 1)
    clipped, more = _clip(str(value).strip(), room)
    inner = one_line(escape(clipped).replace("`", "ˋ")).strip()
    if not inner:
        return "_empty_"
    return f"`{truncate(inner, room, more=more)}`"


def code_block(value: object, limit: int) -> str:
    room = max(limit - 6, 1)
    clipped, more = _clip(str(value), room)
    inner = escape(clipped).replace("`", "ˋ")
    return f"```{truncate(inner, room, more=more)}```"


def safe_mention(mention: str) -> str:
    """Keep well-formed Slack mentions (`<!here>`, `<@U123>`, `<!subteam^S1>`); show anything else as text."""
    tokens = []
    for token in mention.split():
        tokens.append(token if _MENTION_TOKEN.match(token) else escape(token))
    return " ".join(tokens)


def _is_https(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def _is_console_url(url: str) -> bool:
    if not _is_https(url):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in CONSOLE_HOSTS)


def safe_link(url: str | None, label: str) -> str:
    """`<url|label>` for an https AWS console URL, else the literal label: events never build arbitrary links."""
    text = literal_cut(one_line(label), FIELD_VALUE_MAX).replace("|", "¦")
    if url and _is_console_url(url):
        target = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
        if len(target) <= URL_MAX:
            return f"<{target}|{text}>"
    return text


def slack_date(iso_time: str) -> str:
    """Slack renders `<!date^...>` in each reader's time zone; the ISO string is the fallback.

    A time that does not parse is event text: it goes in a code span (bounded, and a leading `>`
    cannot open a quote).
    """
    try:
        moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return code(iso_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def notification_line(alert: Alert, mention: str = "") -> str:
    """Top-level `text`: `[SEVERITY] cluster: title`, inert, plus the mention for CRITICAL alerts."""
    text = literal_cut(one_line(alert.notification_text()), TEXT_MAX - 200, arn_colons=True)
    extra = _mention_for(alert, mention)
    return f"{text} {extra}" if extra else text


def _mention_for(alert: Alert, mention: str) -> str:
    if alert.severity is Severity.CRITICAL and mention.strip():
        return safe_mention(mention.strip())
    return ""


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, SECTION_TEXT_MAX))}


def _label(label: str) -> str:
    """A bold field label; the label is event text too, so it is made literal first."""
    text = literal_cut(one_line(label).strip(), FIELD_VALUE_MAX) or "(no label)"
    return f"*{text}*"


def _field(label: str, value_mrkdwn: str) -> dict[str, Any]:
    return _mrkdwn(truncate(f"{_label(label)}\n{value_mrkdwn}", FIELD_TEXT_MAX))


def _size(obj: Any) -> int:
    """Characters of `obj` as JSON with the default separators: the larger, safer measure."""
    return len(json.dumps(obj, ensure_ascii=False))


def _header(alert: Alert) -> dict[str, Any]:
    clipped, more = _clip(alert.title, HEADER_MAX)
    text = f"{SEVERITY_ICON[alert.severity]} {plain(' '.join(clipped.split()))}"
    return {"type": "header", "text": _plain_text(truncate(text, HEADER_MAX, more=more))}


def _summary(alert: Alert) -> dict[str, Any]:
    clipped, more = _clip(alert.summary or alert.title, SUMMARY_MAX)
    text = plain(clipped).strip() or "-"
    return {"type": "section", "text": _plain_text(truncate(text, SUMMARY_MAX, more=more))}


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
    where = " / ".join(p for p in (alert.account_label, alert.region) if p)
    if where:
        fields.append(_field("Account / region", code(where)))
    fields.extend(_actor_fields(alert))
    fields.append(_field("Time", slack_date(alert.time)))
    return fields[:FIELDS_PER_SECTION]


def _is_short(fact: Fact) -> bool:
    return len(fact.value) <= SHORT_FACT_MAX and len(fact.value.splitlines()) <= 1


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
            label = f"{_label(fact.label)}\n"
            blocks.append(_section(label + code_block(fact.value, SECTION_TEXT_MAX - encoded_len(label))))
    flush()
    return blocks


def _shrink_section(block: dict[str, Any], max_chars: int) -> dict[str, Any] | None:
    """A smaller copy of a long-fact section that fits `max_chars`, or None."""
    text = block.get("text", {}).get("text") if block.get("type") == "section" else None
    if not isinstance(text, str) or not text.endswith("```") or "```" not in text[:-3]:
        return None
    head, _, content = text[:-3].partition("```")
    allowed = max_chars - (_size(block) - encoded_len(text)) - encoded_len(head) - 6
    if allowed < 200:
        return None
    return {"type": "section", "text": _mrkdwn(f"{head}```{truncate(content, allowed)}```")}


def _context(alert: Alert, omitted: int) -> dict[str, Any]:
    elements = []
    if omitted:
        elements.append(_mrkdwn(f"{TRUNCATION_MARKER}: {omitted} more detail(s) not shown; see the source event."))
    if alert.source:
        label = one_line(f"{alert.source.kind}: {alert.source.description}")
        elements.append(_mrkdwn(f"Source: {safe_link(alert.source.url, label)}"))
    kind = literal_cut(one_line(alert.kind), 80)
    elements.append(_mrkdwn(f"eksguard {kind} alert {code(alert.id, 80)}"))
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS_MAX]}


def render(alert: Alert, mention: str = "") -> dict[str, Any]:
    """The Block Kit payload for an incoming webhook: `text`, `blocks` and a coloured attachment."""
    text = notification_line(alert, mention)
    blocks: list[dict[str, Any]] = [_header(alert)]
    lead = _mention_for(alert, mention)
    if lead:
        blocks.append(_section(lead))
    blocks.append(_summary(alert))
    blocks.append({"type": "section", "fields": _main_fields(alert)})

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


def _plain_value(value: object, limit: int = FIELD_VALUE_MAX) -> str:
    """One inert value for the plain fallback; extra lines continue behind `│ ` so none opens a quote."""
    clipped, more = _clip(str(value), limit)
    lines = [literal(line, arn_colons=True) for line in clipped.splitlines()] or [""]
    text = _LINE_CONTINUATION.join(lines)
    return _EDGE_UNDERSCORE.sub("ˍ", truncate(text, limit, more=more))


def render_plain(alert: Alert, mention: str = "") -> str:
    """Degraded plain-text message for when Slack rejects the blocks: same facts, no Block Kit."""
    lines = [notification_line(alert, mention)]
    if alert.summary:
        lines.append(f"Summary: {_plain_value(alert.summary, SUMMARY_MAX)}")
    lines.append(f"Cluster: {_plain_value(alert.cluster or 'n/a')}")
    lines.append(f"Principal: {_plain_value(alert.principal or 'n/a')}")
    if alert.actor:
        actor = _plain_value(alert.actor.display(), 2 * FIELD_VALUE_MAX)
        if alert.actor.source_ip:
            actor += f" from {_plain_value(alert.actor.source_ip)}"
        if alert.actor.user_agent:
            actor += f" via {_plain_value(alert.actor.user_agent)}"
        lines.append(f"Actor: {actor}")
    for fact in alert.facts[:MAX_FACTS_CONSIDERED]:
        # a fixed bullet opens the line: a label is event text too and must not start a `&gt;` quote
        # the colon goes through literal() with the label, so `:a` + `:` cannot close a shortcode
        lines.append(f"• {_plain_value(one_line(fact.label) + ':')} {_plain_value(fact.value)}")
    lines.append(f"Time: {_plain_value(alert.time)}")
    if alert.source:
        source = f"Source: {_plain_value(one_line(f'{alert.source.kind}: {alert.source.description}'), 600)}"
        if alert.source.url and _is_console_url(alert.source.url):
            source += f" {safe_link(alert.source.url, 'open in the AWS console')}"
        lines.append(source)
    lines.append(f"Alert id: {_plain_value(one_line(alert.id))}")
    text = "\n".join(lines)
    cut = truncate(text, PLAIN_TEXT_MAX)
    if cut != text:
        # every `<` left is one of ours (mention, console link): never leave one open
        head = cut[: -len(TRUNCATION_MARKER)]
        if head.rfind("<") > head.rfind(">"):
            cut = head[: head.rfind("<")] + TRUNCATION_MARKER
    return _EDGE_UNDERSCORE.sub("ˍ", cut)


def plain_payload(alert: Alert, mention: str = "") -> dict[str, Any]:
    # Only text: the keys are pinned by the delivery tests; the text itself is inert (see `literal`).
    return {"text": render_plain(alert, mention), "unfurl_links": False, "unfurl_media": False}
