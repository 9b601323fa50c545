"""Fixtures shared with the integration suites: the notifier world and the aws-auth environment."""

from tests.integration.test_audit_log_alert_handler import env  # noqa: F401
from tests.integration.test_slack_notifier import output, world  # noqa: F401
