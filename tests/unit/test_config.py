import pytest

from eksguard.config import ConfigError, load_settings, parse_list
from eksguard.severity import Severity


def test_defaults():
    settings = load_settings({"AWS_REGION": "eu-central-1"})
    assert settings.stop_tag_key == "kubectl-instance"
    assert settings.stop_tag_value == "*"
    assert settings.effective_stop_regions == ("eu-central-1",)
    assert settings.stop_grace_minutes == 30
    assert settings.dry_run is False
    assert settings.alert_min_severity is Severity.INFO


def test_lists_and_booleans():
    settings = load_settings(
        {"STOP_REGIONS": " eu-west-1, us-east-1,,eu-west-1 ", "DRY_RUN": "TRUE", "ALERT_MIN_SEVERITY": "high"}
    )
    assert settings.effective_stop_regions == ("eu-west-1", "us-east-1")
    assert settings.dry_run is True
    assert settings.alert_min_severity is Severity.HIGH
    assert parse_list("") == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DRY_RUN": "maybe"}, "DRY_RUN"),
        ({"STOP_GRACE_MINUTES": "soon"}, "STOP_GRACE_MINUTES"),
        ({"STOP_GRACE_MINUTES": "-5"}, ">= 0"),
        ({"ALERT_MIN_SEVERITY": "LOUD"}, "ALERT_MIN_SEVERITY"),
        ({"STOP_TAG_KEY": "  "}, "STOP_TAG_KEY"),
    ],
)
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_severity_order_and_parse():
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.INFO
    assert Severity.parse("critical") is Severity.CRITICAL
    assert Severity.MEDIUM.at_least(Severity.MEDIUM) and not Severity.INFO.at_least(Severity.MEDIUM)
    with pytest.raises(ValueError, match="expected one of CRITICAL, HIGH, MEDIUM, INFO"):
        Severity.parse("urgent")
