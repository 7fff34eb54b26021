"""Start the real ``yinxin serve`` in a subprocess for integration tests (and benches).

    with running_server(home, passphrase=PASSPHRASE) as srv:
        httpx.get(srv.url("/healthz"))

The server runs as ``python -m yinxin.adapters.cli serve`` from this interpreter (the project's
virtualenv) on a free port, with ``YINXIN_HOME`` and ``YINXIN_CA_PASSPHRASE`` in its
environment, and is ready once ``/healthz`` answers. On exit it is stopped (SIGTERM, then
SIGKILL); while it runs, ``Server.log()`` has its output (removed afterwards).

``yinxin_cli`` runs any other ``yinxin`` command the same way (``--json`` parsed for you),
``demo_home`` prepares a data directory with ``yinxin demo``, and ``issue_certificate`` issues
one more end-entity certificate in-process through the services (apply, pay, approve).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from yinxin.registry.views import CertificateView

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def yinxin_env(
    home: Path | str, passphrase: str | None = PASSPHRASE, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a ``yinxin`` subprocess: YINXIN_HOME, and the CA passphrase unless
    ``passphrase`` is None (then the variable is removed, as for a process that cannot sign)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YINXIN_")}
    env["YINXIN_HOME"] = str(home)
    if passphrase is not None:
        env["YINXIN_CA_PASSPHRASE"] = passphrase
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def yinxin_cli(
    args: Sequence[str],
    home: Path | str,
    *,
    passphrase: str | None = PASSPHRASE,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 60,
    cwd: Path | str = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``yinxin ARGS`` as a subprocess (no terminal, so it never prompts) in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", *args],
        env=yinxin_env(home, passphrase, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(cwd),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"yinxin {' '.join(args)} exited {proc.returncode}\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return proc


def yinxin_json(args: Sequence[str], home: Path | str, **kwargs) -> dict | list:
    return json.loads(yinxin_cli([*args, "--json"], home, **kwargs).stdout)


def demo_home(home: Path | str, passphrase: str = PASSPHRASE) -> dict:
    """Run ``yinxin demo`` in ``home``: the CA, three certificates (one revoked), PEM files
    in ``home/ca`` and ``home/demo``. Returns the demo's JSON result."""
    return yinxin_json(["demo"], home, passphrase=passphrase, timeout=120)  # type: ignore[return-value]


def own_key_certificate(
    platform,
    *,
    name: str = "测试 持有人",
    id_number: str | None = None,
    phone: str = "13800138000",
    officer: str = "受理员 测试",
) -> tuple[ec.EllipticCurvePrivateKey, CertificateView]:
    """A person holding their own key, certified by ``platform`` (a ``yinxin.app.Platform``
    that can sign): subscriber, agreement, CSR, fee, an officer's approval. Returns the key and
    the certificate as the service returns it."""
    from yinxin.demo import sample_id_number

    number = id_number or sample_id_number()
    # one person, one record: a second certificate for the same person reuses the subscriber
    sub = platform.subscribers.find_person(number)
    if sub is None:
        sub = platform.subscribers.add_person(name=name, id_number=number, phone=phone)
        platform.subscribers.accept_agreement(sub.id, accepted_by=name)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    app = platform.certificates.apply(
        subscriber_id=sub.id,
        profile="person-signing",
        csr=csr.public_bytes(Encoding.PEM),
        actor=name,
    )
    platform.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return key, platform.certificates.approve(app.id, officer=officer)


def issue_certificate(platform, *, name: str = "测试 持有人") -> x509.Certificate:
    """A new person-signing certificate from ``platform`` (see ``own_key_certificate``)."""
    _key, cert = own_key_certificate(platform, name=name)
    return x509.load_pem_x509_certificate(cert.pem.encode())


@dataclass
class Server:
    host: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None


def _stop(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def running_server(
    home: Path | str,
    *,
    passphrase: str | None = PASSPHRASE,
    host: str = "127.0.0.1",
    port: int | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    ready_timeout: float = 90,
) -> Iterator[Server]:
    """``yinxin serve --host HOST --port PORT [ARGS]`` for the length of the ``with``.

    ``command`` replaces what follows the interpreter (``-m yinxin.adapters.cli serve …``), e.g.
    to run uvicorn itself; it must listen on ``host`` and ``port`` (give ``port`` then)."""
    port = port or free_port(host)
    fd, log_name = tempfile.mkstemp(prefix="yinxin-serve-", suffix=".log")
    log_path = Path(log_name)
    argv = (
        list(command)
        if command is not None
        else ["-m", "yinxin.adapters.cli", "serve", "--host", host, "--port", str(port), *args]
    )
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            env=yinxin_env(home, passphrase, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
    server = Server(host, port, proc, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"yinxin serve exited with {proc.returncode}:\n{server.log()}")
            try:
                if httpx.get(server.url("/healthz"), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"yinxin serve did not answer /healthz in {ready_timeout} s:\n{server.log()}"
                )
            time.sleep(0.05)
        yield server
    finally:
        _stop(proc)
        log_path.unlink(missing_ok=True)


HASHES = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def ocsp_request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    alg: str = "sha256",
    nonce: bytes | None = None,
) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, HASHES[alg])
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(Encoding.DER)
