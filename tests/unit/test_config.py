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


def test_spoke_settings() -> None:
    from eksguard.config import load_settings

    single = load_settings({})
    assert not single.multi_account and single.spoke_role_name == "eksguard-spoke"
    hub = load_settings(
        {"SPOKE_ACCOUNTS": "111111111111, ORGANIZATION,222222222222", "ACCOUNT_NAMES": "111111111111=payments-prod"}
    )
    assert hub.spoke_accounts == ("111111111111", "222222222222") and hub.spoke_whole_organization
    assert hub.account_names == {"111111111111": "payments-prod"} and hub.multi_account
    assert load_settings({"ORGANIZATION_ID": "o-abcd1234ef"}).multi_account
    for bad in (
        {"SPOKE_ACCOUNTS": "11111111111"},
        {"SPOKE_ACCOUNTS": "all"},
        {"ACCOUNT_NAMES": "prod=111111111111"},
        {"SPOKE_ROLE_NAME": "bad name"},
    ):
        with pytest.raises(ConfigError):
            load_settings(bad)
