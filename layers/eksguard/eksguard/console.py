"""AWS console links per partition: commercial, China and GovCloud each have their own console host.

Only these hosts are ever linked from Slack (`slack.render.CONSOLE_HOSTS`), so a link built
here is always allowed and a region that is not a region name never becomes part of a host.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


def partition_of(region: str | None) -> str:
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def console_url(region: str | None, service: str, fragment: str = "") -> str | None:
    """`https://<console host>/<service>/home?region=<region>#<fragment>`; None for an unusable region."""
    if not region or not _REGION_RE.match(region):
        return None
    partition = partition_of(region)
    if partition == "aws-cn":
        host = "console.amazonaws.cn"
    elif partition == "aws-us-gov":
        host = "console.amazonaws-us-gov.com"
    else:
        host = f"{region}.console.aws.amazon.com"
    url = f"https://{host}/{service}/home?region={region}"
    return f"{url}#{fragment}" if fragment else url


def cloudtrail_event_url(region: str | None, event_id: str | None) -> str | None:
    if not event_id:
        return None
    return console_url(region, "cloudtrailv2", f"/events/{quote(event_id, safe='')}")


def eks_cluster_url(region: str | None, cluster: str) -> str | None:
    return console_url(region, "eks", f"/clusters/{quote(cluster, safe='')}")


def log_stream_url(region: str | None, log_group: str, log_stream: str) -> str | None:
    """CloudWatch console deep link to a log stream (the console's own double-escaped fragment form)."""

    def esc(value: str) -> str:
        return quote(quote(value, safe=""), safe="").replace("%", "$")

    return console_url(
        region, "cloudwatch", f"logsV2:log-groups/log-group/{esc(log_group)}/log-events/{esc(log_stream)}"
    )
