"""``yinxin init`` (and any command) whose PKCS#11 token cannot be reached names the setting
the operator changes: a wrong PIN said "error [pin]: wrong HSM PIN", a token not there
"[token_label]", a library not there "[module]" — the key store's parameters, which no option
or setting is called; the operator sets ``YINXIN_PKCS11_PIN``, ``…_TOKEN``, ``…_MODULE`` (as
the CRL warning already says). The token is a real SoftHSM2 one; nothing is left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.server import yinxin_cli
from tests.integration.test_crl_not_signed_in_the_hsm import _env, hsm  # noqa: F401
from tests.softhsm import softhsm_token_in


def test_a_token_out_of_reach_at_init_names_the_setting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with softhsm_token_in(tmp_path / "hsm", label="yinxin-ca") as token:
        env = {
            "YINXIN_KEYSTORE": "pkcs11",
            "YINXIN_PKCS11_MODULE": token.module,
            "YINXIN_PKCS11_TOKEN": token.token_label,
            "YINXIN_PKCS11_PIN": "97531086",
        }
        cases = (
            ({}, "YINXIN_PKCS11_PIN", 5, "wrong HSM PIN"),
            ({"YINXIN_PKCS11_TOKEN": "no-such"}, "YINXIN_PKCS11_TOKEN", 7, "'no-such'"),
            (
                {"YINXIN_PKCS11_MODULE": str(tmp_path / "gone.so")},
                "YINXIN_PKCS11_MODULE",
                7,
                "does not exist",
            ),
        )
        for changed, setting, code, said in cases:
            run = [{**env, **changed}, {**env, **changed, "YINXIN_PKCS11_PIN": token.pin}]
            done = yinxin_cli(
                ["init", "--json"],
                home,
                passphrase=None,
                env=run[setting != "YINXIN_PKCS11_PIN"],
                check=False,
            )
            assert done.returncode == code, (setting, done.stdout, done.stderr)
            err = json.loads(done.stdout)
            assert err["field"] == setting and said in err["message"], err
            assert token.pin not in done.stdout + done.stderr
            assert not home.exists(), f"{setting}: init left {list(home.iterdir())}"
            done = yinxin_cli(
                ["init"],
                home,
                passphrase=None,
                env=run[setting != "YINXIN_PKCS11_PIN"],
                check=False,
            )
            assert f"error [{setting}]: " in done.stderr, done.stderr
        # the right settings: initialised in the token
        done = yinxin_cli(
            ["init"], home, passphrase=None, env={**env, "YINXIN_PKCS11_PIN": token.pin}
        )
        assert "Initialised" in done.stdout, done.stdout + done.stderr


def test_archive_renew_refuses_a_token_out_of_reach_up_front(hsm, tmp_path: Path) -> None:
    """``archive renew`` refuses the run up front when the key store does not open (not one
    failure a kept document, nor "not due" with nothing due): it told that by the store's field
    names, so the settings' names must count as the store's too — a wrong token label passed
    as nothing due, exit 0."""
    s, token = hsm
    env = _env(s, token, YINXIN_PKCS11_TOKEN="no-such")
    done = yinxin_cli(["archive", "renew", "--json"], s.home, passphrase=None, env=env, check=False)
    assert done.returncode == 7, (done.stdout, done.stderr)
    assert json.loads(done.stdout)["field"] == "YINXIN_PKCS11_TOKEN", done.stdout
    done = yinxin_cli(["archive", "renew", "--json"], s.home, passphrase=None, env=_env(s, token))
    assert done.returncode == 0, done.stderr
