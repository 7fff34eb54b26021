"""A small real PKI for tests: root → issuing CA, plus an OCSP responder and a TSA under it.

Everything is built through ``yinxin.pki.authority`` (the code under test elsewhere), so the
status and timestamp tests exercise the certificates the platform really issues. Import it as
``from tests.unit.pki_chain import make_chain``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from yinxin.pki.algorithms import Algorithm, get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate, pem
from yinxin.pki.keys import KeyHandle, SoftwareKey
from yinxin.pki.profiles import PROFILES

BASE = "http://127.0.0.1:8000"


class HsmLikeKey:
    """A key that signs but will not show itself, like one inside a PKCS#11 token.

    Wrapping a ``SoftwareKey`` and hiding ``native`` forces the builders down their
    to-be-signed + ``sign`` + reassembly path, which is what real HSM keys take.
    """

    def __init__(self, inner: SoftwareKey):
        self._inner = inner
        self.label = inner.label

    @property
    def algorithm(self) -> Algorithm:
        return self._inner.algorithm

    def public_key(self) -> PublicKeyTypes:
        return self._inner.public_key()

    def sign(self, data: bytes, hash_alg=None) -> bytes:
        return self._inner.sign(data, hash_alg)

    @property
    def native(self) -> PrivateKeyTypes | None:
        return None


@dataclass
class Chain:
    algorithm: str
    now: dt.datetime
    root: x509.Certificate
    root_key: SoftwareKey
    issuing: x509.Certificate
    issuing_key: SoftwareKey
    issuer: Issuer
    ocsp: x509.Certificate
    ocsp_key: SoftwareKey
    tsa: x509.Certificate
    tsa_key: SoftwareKey

    def end_entity(
        self, common_name: str = "张三", profile: str = "person-signing"
    ) -> tuple[x509.Certificate, KeyHandle]:
        """A fresh subscriber certificate from the issuing CA."""
        key = SoftwareKey("ee", get_algorithm(self.algorithm).generate())
        cert = build_certificate(
            profile=PROFILES[profile],
            subject=base_name(common_name),
            public_key=key.public_key(),
            issuer=self.issuer,
            not_before=self.now - dt.timedelta(minutes=5),
            not_after=self.now + dt.timedelta(days=365),
        )
        return cert, key

    def write(self, directory: Path) -> dict[str, Path]:
        """PEM files for command-line tools: root, issuing, chain (both), ocsp, tsa."""
        files = {
            "root": pem(self.root),
            "issuing": pem(self.issuing),
            "chain": pem(self.issuing) + pem(self.root),
            "ocsp": pem(self.ocsp),
            "tsa": pem(self.tsa),
        }
        out = {}
        for name, data in files.items():
            path = directory / f"{name}.pem"
            path.write_bytes(data)
            out[name] = path
        return out


def make_chain(algorithm: str = "ec-p256") -> Chain:
    alg = get_algorithm(algorithm)
    # a few minutes in the past so that tools checking validity "now" accept at once
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    root_key = SoftwareKey("root", alg.generate())
    root = build_certificate(
        profile=PROFILES["root-ca"],
        subject=base_name("Yinxin Test Root CA", organization="Yinxin"),
        public_key=root_key.public_key(),
        issuer=None,
        self_key=root_key,
        not_before=now,
        not_after=now + dt.timedelta(days=3650),
    )
    issuing_key = SoftwareKey("issuing", alg.generate())
    issuing = build_certificate(
        profile=PROFILES["issuing-ca"],
        subject=base_name("Yinxin Test Issuing CA", organization="Yinxin"),
        public_key=issuing_key.public_key(),
        issuer=Issuer(root, root_key, StatusUrls(f"{BASE}/crl/root.crl", f"{BASE}/ca/root.cer")),
        not_before=now,
        not_after=now + dt.timedelta(days=1825),
    )
    issuer = Issuer(
        issuing,
        issuing_key,
        StatusUrls(f"{BASE}/crl/issuing.crl", f"{BASE}/ca/issuing.cer", f"{BASE}/ocsp"),
    )

    def leaf(profile: str, cn: str) -> tuple[x509.Certificate, SoftwareKey]:
        key = SoftwareKey(profile, alg.generate())
        cert = build_certificate(
            profile=PROFILES[profile],
            subject=base_name(cn, organization="Yinxin"),
            public_key=key.public_key(),
            issuer=issuer,
            not_before=now,
            not_after=now + dt.timedelta(days=365),
        )
        return cert, key

    ocsp, ocsp_key = leaf("ocsp-responder", "Yinxin Test OCSP Responder")
    tsa, tsa_key = leaf("tsa", "Yinxin Test TSA")
    return Chain(
        algorithm, now, root, root_key, issuing, issuing_key, issuer, ocsp, ocsp_key, tsa, tsa_key
    )


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an independent tool (openssl, pkilint); the result carries rc, stdout and stderr."""
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def venv_tool(name: str) -> str:
    """A console script installed next to the running interpreter (pkilint's lint_crl …)."""
    return str(Path(sys.executable).parent / name)
