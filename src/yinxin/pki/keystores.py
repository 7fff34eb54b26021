"""Which key store holds the CA's keys, chosen by name (``YINXIN_KEYSTORE``): the one place.

Above both stores: ``keys`` defines the interface and the file store, ``pkcs11_store`` the
token store on top of it, so choosing between them belongs to neither. A name that is not a
store is refused: a typo must not quietly put the CA's keys in files when a token was meant.
"""

from __future__ import annotations

from yinxin.errors import ConfigurationError
from yinxin.pki.keys import FileKeyStore, KeyStore
from yinxin.settings import KEYSTORES

#: what the platform's PKCS#11 store's refusals to reach the token name (``names``): the
#: settings the operator changes, for the store's ``module``, ``token_label`` and ``pin``
PKCS11_SETTINGS = {
    "module": "YINXIN_PKCS11_MODULE",
    "token_label": "YINXIN_PKCS11_TOKEN",
    "pin": "YINXIN_PKCS11_PIN",
}


def open_keystore(kind: str, **options) -> KeyStore:
    """The store ``kind`` with its options: ``directory``/``passphrase`` for files,
    ``module``/``token_label``/``pin`` for a PKCS#11 token (its library is imported only then),
    and ``names``, what the caller's configuration calls those three (refusals name them)."""
    if kind == "file":
        return FileKeyStore(options["directory"], options["passphrase"])
    if kind == "pkcs11":
        from yinxin.pki.pkcs11_store import Pkcs11KeyStore

        return Pkcs11KeyStore(
            module=options["module"],
            token_label=options["token_label"],
            pin=options["pin"],
            names=options.get("names"),
        )
    raise ConfigurationError(
        f"unknown key store {kind!r}: {' or '.join(KEYSTORES)}", field="keystore"
    )
