"""Move every sealed secret in the database to one data-at-rest cipher (``yinxin keys recrypt``).

The deployment's ``YINXIN_DATA_CIPHER`` decides what *new* secrets are sealed with; blobs
sealed earlier name their own cipher and keep opening. ``DataRecrypt.run`` re-encrypts the old
ones, so that after a move to SM4 no secret is left under AES (or back):

* platform-held subscriber keys: the KEK layer is unwrapped and wrapped again under the target
  cipher (a key made before the KEK is wrapped for the first time). The PIN layer inside cannot
  be opened without the holder's PIN, which the platform never has: it is re-sealed under the
  deployment's cipher at the key's next use with its PIN (a signature or a PIN change, see
  ``yinxin.seals.pin``). Until then the result lists the key as ``pin_layer_pending``; the KEK
  layer, the one a stolen database meets first, is already under the target cipher.
* keys held for signing authorizations: opened through the KEK and sealed again, with a fresh
  per-authorization secret, under the target cipher;
* webhook signing secrets (current and previous) and staff TOTP secrets: unwrapped and
  wrapped again under the KEK;
* last, after the commit, the file key store's ``<kek>.kek`` file, sealed again under the CA
  passphrase with the target cipher (its key unchanged, so it cannot break what is sealed
  under it).

The database part is one transaction holding every row it changes: a blob that does not open
stops the run with its kind and row named, and nothing is written (the file neither). Blobs
already under the target cipher are left as they are, so a second run changes nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yinxin.access.staff import _aad as staff_aad
from yinxin.clock import Clock
from yinxin.errors import ConfigurationError, ValidationError, YinxinError
from yinxin.identity import validate_name
from yinxin.notify.webhooks import _aad as webhook_aad
from yinxin.pki import pinkeys
from yinxin.pki.authkeys import (
    cipher_of_authorization,
    open_for_authorization,
    rewrap_for_authorization,
)
from yinxin.pki.ciphers import get_cipher
from yinxin.pki.kek import KekMismatch, PlatformKek
from yinxin.signing.authorizations import _label as authorization_label
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.models import PlatformKey
from yinxin.store.models.access import StaffUser
from yinxin.store.models.authorizations import SigningAuthorization
from yinxin.store.models.webhooks import WebhookSubscription

# the kinds of sealed secret, in the order they are recrypted and reported
KINDS = ("platform_key", "authorization_key", "webhook_secret", "staff_totp")

# (kind, what, done, total): called before each blob is recrypted
Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class RecryptResult:
    cipher: str
    setting: str  # the deployment's YINXIN_DATA_CIPHER: what new secrets are sealed with
    recrypted: dict[str, int]
    unchanged: dict[str, int]
    pin_layer_pending: list[str] = field(default_factory=list)  # platform key labels
    note: str | None = None


@dataclass(frozen=True)
class CipherCensus:
    """How many sealed secrets of each kind are under each cipher (``platform_key_pin``: the
    PIN layer of platform-held keys; ``none``: a key made before the KEK, not wrapped)."""

    setting: str
    counts: dict[str, dict[str, int]]


class _Item:
    """One sealed blob: the row and column it is kept in, and how to recrypt it."""

    def __init__(self, kind: str, what: str, row: object, column: str, recrypt):
        self.kind, self.what = kind, what
        self._row, self._column, self.recrypt = row, column, recrypt

    def get(self) -> bytes:
        return getattr(self._row, self._column)

    def put(self, blob: bytes) -> None:
        setattr(self._row, self._column, blob)


class DataRecrypt:
    def __init__(self, db: Database, clock: Clock, kek: PlatformKek):
        self.db, self.clock, self.kek = db, clock, kek

    def _items(self, s: Session, lock: bool) -> list[_Item]:
        kek = self.kek

        def rows(model, order):
            q = select(model).order_by(order)
            return s.execute(q.with_for_update() if lock else q).scalars().all()

        def sealed(kind: str, what: str, row: object, column: str, aad: bytes) -> _Item:
            """A secret the KEK seals itself, bound to ``aad`` (the row it belongs to)."""
            return _Item(kind, what, row, column, lambda b, c: kek.recrypt(b, aad, c))

        items: list[_Item] = []
        for k in rows(PlatformKey, PlatformKey.id):
            items.append(
                _Item(
                    "platform_key",
                    k.label,
                    k,
                    "sealed_key",
                    lambda b, c, k=k: pinkeys.rewrap(b, k.label, kek, c),
                )
            )
        for a in rows(SigningAuthorization, SigningAuthorization.id):
            if a.wrapped_key:
                label = authorization_label(a.id)
                items.append(
                    _Item(
                        "authorization_key",
                        label,
                        a,
                        "wrapped_key",
                        lambda b, c, label=label: rewrap_for_authorization(b, label, kek, c),
                    )
                )
        for w in rows(WebhookSubscription, WebhookSubscription.id):
            for column in ("secret_wrapped", "previous_secret_wrapped"):
                if getattr(w, column):
                    what = f"webhook {w.id} {column}"
                    items.append(sealed("webhook_secret", what, w, column, webhook_aad(w.id)))
        for u in rows(StaffUser, StaffUser.id):
            if u.totp_secret_encrypted:
                what, aad = f"staff {u.username}", staff_aad(u.username)
                items.append(sealed("staff_totp", what, u, "totp_secret_encrypted", aad))
        return items

    def anything_wrapped(self) -> bool:
        """Is any secret in the database sealed under a platform KEK already? Then the key
        store must hold that KEK: a new one, made because it is missing (a database imported,
        its ``keys/`` not copied yet), could open none of them (``PlatformKek`` asks this
        before it creates the KEK). A platform-held key from before the KEK does not count."""
        with self.db.read() as s:
            for model, columns in (
                (SigningAuthorization, (SigningAuthorization.wrapped_key,)),
                (
                    WebhookSubscription,
                    (
                        WebhookSubscription.secret_wrapped,
                        WebhookSubscription.previous_secret_wrapped,
                    ),
                ),
                (StaffUser, (StaffUser.totp_secret_encrypted,)),
            ):
                q = select(model.id).where(or_(*(c.is_not(None) for c in columns))).limit(1)
                if s.execute(q).first() is not None:
                    return True
            blobs = s.execute(select(PlatformKey.sealed_key)).scalars()
            return any(pinkeys.is_wrapped(blob) for blob in blobs if blob)

    def kek_opens_database(self) -> bool | None:
        """Does the KEK in place open the secrets the database holds? ``None`` if it holds none
        under a KEK yet. A few are tried (the oldest of each kind), and one that opens is
        enough (one blob damaged does not stop every new secret); none opening means the KEK
        is not the one the database was made with (``PlatformKek`` asks this, once, before it
        seals anything new). A blob in no known format is passed over."""
        kek = self.kek
        tried = False
        with self.db.read() as s:
            openers: list[Callable[[], object]] = []

            def first(model, column, order):
                q = select(model).where(column.is_not(None)).order_by(order).limit(1)
                return s.execute(q).scalars().first()

            a = first(
                SigningAuthorization, SigningAuthorization.wrapped_key, SigningAuthorization.id
            )
            if a is not None:
                key, label = bytes(a.wrapped_key), authorization_label(a.id)
                openers.append(lambda: open_for_authorization(key, label, kek))
            for column in (
                WebhookSubscription.secret_wrapped,
                WebhookSubscription.previous_secret_wrapped,
            ):
                if (w := first(WebhookSubscription, column, WebhookSubscription.id)) is not None:
                    blob, aad = bytes(getattr(w, column.key)), webhook_aad(w.id)
                    openers.append(lambda blob=blob, aad=aad: kek.decrypt(blob, aad))
                    break
            if (u := first(StaffUser, StaffUser.totp_secret_encrypted, StaffUser.id)) is not None:
                blob, aad = bytes(u.totp_secret_encrypted), staff_aad(u.username)
                openers.append(lambda blob=blob, aad=aad: kek.decrypt(blob, aad))
            q = select(PlatformKey.label, PlatformKey.sealed_key).order_by(PlatformKey.id)
            for label, blob in s.execute(q):
                if blob and pinkeys.is_wrapped(blob):
                    blob = bytes(blob)
                    openers.append(lambda blob=blob, label=label: pinkeys.layers(blob, label, kek))
                    break
        for opener in openers:
            try:
                opener()
                return True
            except KekMismatch:
                tried = True
            except (YinxinError, ValueError, struct.error):  # opened, or no known format
                continue
        return False if tried else None

    def run(
        self, cipher: str, *, actor: str = "operator", progress: Progress | None = None
    ) -> RecryptResult:
        """Recrypt every sealed secret to ``cipher``, all or nothing (module docstring)."""
        actor = validate_name(actor, "actor", 100)  # recorded at the end: refused up front
        try:
            c = get_cipher(cipher, field="cipher")
        except ConfigurationError as e:  # here it is the operator's input, not the settings'
            raise ValidationError(e.message, field="cipher", code="unknown_cipher") from None
        # open the KEK before the transaction; made only where nothing is wrapped under one
        # yet (a key store without the KEK its secrets need — a database imported, its keys/
        # not copied — would otherwise get a new, unrelated KEK file, then refuse every blob)
        self.kek.ready(create=not self.anything_wrapped())
        self.kek.supports(c)  # a key store that cannot do this cipher is refused up front
        recrypted = dict.fromkeys(KINDS, 0)
        unchanged = dict.fromkeys(KINDS, 0)
        pending: list[str] = []
        now = self.clock.now()
        with self.db.transaction() as s:
            items = self._items(s, lock=True)
            for i, item in enumerate(items):
                if progress is not None:
                    progress(item.kind, item.what, i, len(items))
                old = bytes(item.get())
                try:
                    new = item.recrypt(old, c)
                    if (
                        item.kind == "platform_key"
                        and pinkeys.layers(new, item.what, self.kek)[1] != c.name
                    ):
                        pending.append(item.what)
                except YinxinError as e:
                    raise type(e)(
                        f"{item.kind.replace('_', ' ')} {item.what!r} does not open ({e}); "
                        "nothing was re-encrypted",
                        field=e.field,
                        code=e.code,
                    ) from None
                except ValueError as e:  # not a blob in any known format
                    raise ConfigurationError(
                        f"{item.kind.replace('_', ' ')} {item.what!r} is not a sealed blob in "
                        f"a known format ({e}); nothing was re-encrypted",
                        field="cipher",
                        code="recrypt_failed",
                    ) from None
                if new == old:
                    unchanged[item.kind] += 1
                else:
                    item.put(new)
                    recrypted[item.kind] += 1
            if progress is not None:
                progress("done", "", len(items), len(items))
            event(
                s,
                now,
                actor,
                "data.recrypted",
                self.kek.label,
                {
                    "cipher": c.name,
                    "recrypted": recrypted,
                    "unchanged": unchanged,
                    "pin_layer_pending": pending,
                },
                subject_type="platform_kek",
            )
        # the KEK's own file last: its key does not change, so blobs open whichever way the
        # file is sealed, and a failed run above has left it as it was
        if self.kek.store_cipher() is not None:
            if progress is not None:
                progress("kek_file", self.kek.label, len(items), len(items))
            try:
                moved = self.kek.reseal_store(c)
            except OSError as e:
                raise ConfigurationError(
                    "the sealed secrets in the database are re-encrypted, but the key store's "
                    f"file for {self.kek.label!r} could not be rewritten ({e.strerror}); it "
                    "still opens as it was: run the recrypt again",
                    field="keystore",
                    code="recrypt_failed",
                ) from None
            recrypted["kek_file"], unchanged["kek_file"] = int(moved), int(not moved)
        setting = self.kek.cipher.name
        note = None
        if setting != c.name:
            note = (
                f"YINXIN_DATA_CIPHER is {setting}: new secrets are still sealed with it; "
                f"set YINXIN_DATA_CIPHER={c.name} to keep everything under {c.name}"
            )
        return RecryptResult(c.name, setting, recrypted, unchanged, pending, note)

    def census(self) -> CipherCensus:
        """Count the sealed secrets by kind and cipher (reads headers; needs the KEK only to
        read the PIN layer's header of platform-held keys, never a PIN)."""
        counts: dict[str, dict[str, int]] = {k: {} for k in (*KINDS, "platform_key_pin")}

        def add(kind: str, name: str) -> None:
            counts[kind][name] = counts[kind].get(name, 0) + 1

        with self.db.read() as s:
            for item in self._items(s, lock=False):
                blob = bytes(item.get())
                if item.kind == "platform_key":
                    try:
                        outer, inner = pinkeys.layers(blob, item.what, self.kek)
                    except YinxinError as e:
                        # a damaged key: say which (the census is where an operator looks)
                        raise type(e)(
                            f"platform key {item.what!r} does not open ({e})",
                            field=e.field,
                            code=e.code,
                        ) from None
                    add("platform_key", outer or "none")
                    add("platform_key_pin", inner)
                elif item.kind == "authorization_key":
                    add(item.kind, cipher_of_authorization(blob))
                else:
                    add(item.kind, self.kek.cipher_of(blob))
        store = self.kek.store_cipher()
        if store is not None:
            counts["kek_file"] = {store: 1}
        return CipherCensus(self.kek.cipher.name, counts)
