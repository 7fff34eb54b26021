"""Settings from the environment: unset variables keep the safe defaults, bad numbers are
refused naming the variable."""

from __future__ import annotations

import pytest

from yinxin.errors import ConfigurationError
from yinxin.settings import Settings


def _clean(monkeypatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("YINXIN_"):
            monkeypatch.delenv(k)


def test_unset_variables_keep_the_defaults(monkeypatch, tmp_path):
    _clean(monkeypatch)
    s = Settings.from_env(home=tmp_path)
    assert (s.api_rate, s.api_burst, s.sweep_seconds) == (20.0, 100, 60.0)
    assert (s.log_format, s.access_log, s.metrics_token) == ("text", False, None)
    assert s.database_url == f"sqlite:///{tmp_path / 'yinxin.db'}"


def test_variables_are_read_and_bad_numbers_refused(monkeypatch, tmp_path):
    _clean(monkeypatch)
    monkeypatch.setenv("YINXIN_API_RATE", "0")
    monkeypatch.setenv("YINXIN_API_BURST", "7")
    monkeypatch.setenv("YINXIN_LOG_FORMAT", "json")
    monkeypatch.setenv("YINXIN_ACCESS_LOG", "1")
    s = Settings.from_env(home=tmp_path)
    assert (s.api_rate, s.api_burst, s.log_format, s.access_log) == (0.0, 7, "json", True)
    monkeypatch.setenv("YINXIN_API_RATE", "fast")
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(home=tmp_path)
    assert e.value.field == "YINXIN_API_RATE"


@pytest.mark.parametrize(
    "bad",
    [
        "ca.example.cn",  # no scheme
        "ftp://ca.example.cn",
        "http://exa mple.cn",
        "http://",
        "https://user:pw@ca.example.cn",
        "https://ca.example.cn/?x=1",
        "https://ca.example.cn/#top",
        "https://ca.example.cn:port",
        "https://印信.中国",  # certificates' URIs are ASCII (punycode it: xn--…)
    ],
)
def test_a_base_url_certificates_could_not_point_to_is_refused(monkeypatch, tmp_path, bad):
    """YINXIN_BASE_URL is written into every certificate's CRL and AIA addresses; each of these
    was accepted and published by `yinxin init` in a root that lasts twenty years."""
    _clean(monkeypatch)
    monkeypatch.setenv("YINXIN_BASE_URL", bad)
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(home=tmp_path)
    assert e.value.field == "YINXIN_BASE_URL" and repr(bad) in e.value.message


def test_good_base_urls_are_kept_without_the_trailing_slash(monkeypatch, tmp_path):
    _clean(monkeypatch)
    for good, kept in [
        ("https://ca.example.cn/", "https://ca.example.cn"),
        ("http://10.0.0.5:8080/yinxin/", "http://10.0.0.5:8080/yinxin"),
        ("https://xn--fiq228c.xn--fiqs8s", "https://xn--fiq228c.xn--fiqs8s"),
    ]:
        monkeypatch.setenv("YINXIN_BASE_URL", good)
        assert Settings.from_env(home=tmp_path).base_url == kept


def test_an_unknown_key_store_is_refused_not_taken_for_files(monkeypatch, tmp_path):
    """A typo in YINXIN_KEYSTORE once fell through to key files: the CA's keys would have been
    made and kept on disk while the operator believed them in the token."""
    from yinxin.app import Platform

    _clean(monkeypatch)
    monkeypatch.setenv("YINXIN_KEYSTORE", "PKCS11")
    assert Settings.from_env(home=tmp_path).keystore == "pkcs11"
    monkeypatch.setenv("YINXIN_KEYSTORE", "pkcs-11")
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(home=tmp_path)
    assert e.value.field == "YINXIN_KEYSTORE" and "file or pkcs11" in e.value.message
    # settings made in code are refused where the store is opened, and nothing is written
    p = Platform(
        Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'y.db'}", keystore="hsm"),
        passphrase="x" * 16,
    )
    try:
        with pytest.raises(ConfigurationError) as e:
            p.keystore()
        assert e.value.field == "keystore"
        assert not (tmp_path / "keys").exists()
    finally:
        p.close()


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("YINXIN_LOG_FORMAT", "jsn"),
        ("YINXIN_ACCESS_LOG", "maybe"),
        ("YINXIN_WEBHOOK_ALLOW_PRIVATE", "2"),
    ],
)
def test_choices_and_flags_are_refused_when_misspelt(monkeypatch, tmp_path, name, bad):
    """Each once fell back to its default silently (json logs asked for, text written)."""
    _clean(monkeypatch)
    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(home=tmp_path)
    assert e.value.field == name and repr(bad) in e.value.message


def test_flags_read_yes_and_no_in_any_case(monkeypatch, tmp_path):
    _clean(monkeypatch)
    monkeypatch.setenv("YINXIN_ACCESS_LOG", "ON")
    monkeypatch.setenv("YINXIN_WEBHOOK_ALLOW_PRIVATE", "no")
    monkeypatch.setenv("YINXIN_LOG_FORMAT", "JSON")
    s = Settings.from_env(home=tmp_path)
    assert (s.access_log, s.webhook_allow_private, s.log_format) == (True, False, "json")


def test_payment_reminder_days_is_read_and_bounded(monkeypatch, tmp_path):
    """The payment reminder's lead (the notices.payment job): 7 days unless set; a value that
    is not a whole number of days from 0 to 3650 is refused naming the variable."""
    _clean(monkeypatch)
    assert Settings.from_env(home=tmp_path).payment_reminder_days == 7
    monkeypatch.setenv("YINXIN_PAYMENT_REMINDER_DAYS", "14")
    assert Settings.from_env(home=tmp_path).payment_reminder_days == 14
    monkeypatch.setenv("YINXIN_PAYMENT_REMINDER_DAYS", "0")
    assert Settings.from_env(home=tmp_path).payment_reminder_days == 0
    for bad in ("-1", "3651", "7.5", "seven", "１４"):
        monkeypatch.setenv("YINXIN_PAYMENT_REMINDER_DAYS", bad)
        with pytest.raises(ConfigurationError) as e:
            Settings.from_env(home=tmp_path)
        assert e.value.field == "YINXIN_PAYMENT_REMINDER_DAYS"


def test_otp_ttl_seconds_is_read_and_bounded(monkeypatch, tmp_path):
    """YINXIN_OTP_TTL_SECONDS, the life of a one-time code, was documented but never read: a
    code lived 300 seconds whatever it said. It is read now: 300 unless set, a whole number of
    seconds from 60 (a new code may be asked for once a minute) to 3600, anything else refused
    naming the variable."""
    _clean(monkeypatch)
    assert Settings.from_env(home=tmp_path).otp_ttl_seconds == 300
    for good in ("600", "60", "3600"):
        monkeypatch.setenv("YINXIN_OTP_TTL_SECONDS", good)
        assert Settings.from_env(home=tmp_path).otp_ttl_seconds == int(good)
    for bad in ("0", "59", "3601", "-300", "300.5", "5m", "６００"):
        monkeypatch.setenv("YINXIN_OTP_TTL_SECONDS", bad)
        with pytest.raises(ConfigurationError) as e:
            Settings.from_env(home=tmp_path)
        assert e.value.field == "YINXIN_OTP_TTL_SECONDS"
        assert "60 to 3600" in str(e.value)
