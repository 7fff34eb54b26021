"""Input files on the command line are read up to a bound for their kind: ``--csr /dev/zero``
read on until memory ran out. Past the bound the option is refused by name, exit 2, having read
one byte more than the bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, cli_env
from tests.integration.server import yinxin_cli
from yinxin.adapters.cli.common import MAX_DOCUMENT_INPUT, MAX_PEM_INPUT, read_input
from yinxin.errors import ValidationError
from yinxin.pdf.batch import MAX_FILE
from yinxin.signing.ofd import MAX_OFD
from yinxin.signing.service import MAX_PDF


def test_the_document_bound_is_what_the_services_take() -> None:
    assert MAX_DOCUMENT_INPUT == MAX_PDF == MAX_OFD == MAX_FILE
    assert MAX_PEM_INPUT <= 512 * 1024


def test_a_file_up_to_the_bound_is_read_whole_and_one_past_it_refused(tmp_path: Path) -> None:
    exact = tmp_path / "exact.pem"
    exact.write_bytes(b"x" * 1000)
    assert read_input(exact, "csr", 1000) == b"x" * 1000
    assert read_input(exact, "csr") == b"x" * 1000  # the default, a document's bound
    with pytest.raises(ValidationError) as e:
        read_input(exact, "csr", 999)
    assert e.value.field == "csr" and "larger than 999 bytes" in e.value.message
    assert read_input(None, "csr", 10) is None


def test_an_endless_input_is_refused_after_the_bound() -> None:
    with pytest.raises(ValidationError) as e:
        read_input(Path("/dev/zero"), "csr", MAX_PEM_INPUT)
    assert e.value.field == "csr" and "larger than 256 KB" in e.value.message


def test_cert_apply_refuses_a_csr_past_its_bound(tmp_path: Path) -> None:
    big = tmp_path / "big.csr"
    big.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * MAX_PEM_INPUT)
    r = yinxin_cli(
        [
            "cert",
            "apply",
            "--subscriber-id",
            "1",
            "--profile",
            "person-signing",
            "--csr",
            str(big),
            "--json",
        ],
        tmp_path / "home",
        check=False,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["field"] == "csr" and "larger than 256 KB" in out["message"], out


def test_a_seal_scan_that_is_no_image_is_refused_naming_scan(platform, tmp_path: Path) -> None:
    """``seal create|apply|change --scan FILE``: a file that is no image (or too small, or a
    picture with no seal in it) was refused naming ``image``, which no option of the command
    is called; an empty one named ``scan``. Now every refusal of the file names ``scan``
    (code and exit code unchanged), and nothing is written."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.integration.test_seals import WANG, personal_seal, world
    from yinxin.adapters.cli import app as cli_app

    p = platform
    w = world(p)
    seal = personal_seal(w)
    junk = tmp_path / "scan.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    env = cli_env(p)
    new = ["--subscriber-id", str(w.org.id), "--kind", "contract"]
    new += ["--certificate", w.org_cert.serial, "--project", "百城e采平台项目"]
    new += ["--holder", WANG.name, "--id-number", WANG.id_number, "--declaration-accepted"]
    before = dbdump.dump(p)
    for args in (["create", *new], ["apply", *new], ["change", seal.es_id]):
        res = CliRunner().invoke(cli_app, ["seal", *args, "--scan", str(junk)], env=env)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith("error [scan]: not a readable PNG or JPEG"), res.stderr
        res = CliRunner().invoke(cli_app, ["seal", *args, "--scan", str(junk), "--json"], env=env)
        assert json.loads(res.stdout)["field"] == "scan", res.stdout
    assert dbdump.dump(p) == before


def test_apikey_create_names_its_own_options(platform) -> None:
    """``apikey create --expires`` in the past and ``--organization`` missing, or not an
    organization, were refused naming ``expires_at`` and ``organization_id``, the service's
    names, while a malformed ``--expires`` named ``expires``. Every refusal of those options now
    names the option, exit 2, no key made."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.integration.test_seals import world
    from yinxin.adapters.cli import app as cli_app

    p = platform
    w = world(p)
    env = cli_env(p)
    key = ["apikey", "create", "--name", "erp"]
    cases = [
        (["--role", "administrator", "--expires", "2020-01-01T00:00+00:00"], "expires"),
        (["--role", "organization_admin"], "organization"),
        (["--role", "organization_admin", "--organization", str(w.zhang.id)], "organization"),
    ]
    before = dbdump.dump(p)
    for args, option in cases:
        res = CliRunner().invoke(cli_app, [*key, *args], env=env)
        assert res.exit_code == 2 and res.stderr.startswith(f"error [{option}]: "), res.output
    assert dbdump.dump(p) == before


def test_a_values_file_nested_too_deeply_is_refused_naming_values(platform, tmp_path) -> None:
    """``contract draft|revise|preview --values v.json`` with arrays nested 100,000 deep (a few
    hundred KB, well inside the bound) ended in a RecursionError traceback from the JSON
    parser, exit 1. Now it is refused naming values, exit 2, and nothing is drafted."""
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    p = platform
    env = cli_env(p)
    deep = tmp_path / "values.json"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    before = dbdump.dump(p)
    for args in (["draft", "om-service"], ["preview", "om-service", "--out", str(tmp_path / "p")]):
        res = CliRunner().invoke(cli_app, ["contract", *args, "--values", str(deep)], env=env)
        assert res.exit_code == 2, (args, res.output, res.exception)
        assert res.stderr.startswith("error [values]: ") and "deep" in res.stderr, res.stderr
    assert dbdump.dump(p) == before and not (tmp_path / "p").exists()
    # a list where the object goes was refused with "the values file holds a JSON object",
    # which reads as if it did
    listed = tmp_path / "list.json"
    listed.write_text('["甲方", "乙方"]')
    res = CliRunner().invoke(
        cli_app, ["contract", "draft", "om-service", "--values", str(listed)], env=env
    )
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error [values]: {listed} 应为"), res.stderr  # then English
    assert f"/ {listed} must hold a JSON object" in res.stderr, res.stderr
    assert "not a list" in res.stderr and dbdump.dump(p) == before


def test_seal_and_flow_refusals_name_the_option_typed(platform, tmp_path: Path) -> None:
    """``seal create --certificate`` unknown was refused naming ``certificate_serial``,
    ``--holder`` not the subscriber's name ``holder_name``, ``seal grant|withdraw|check
    --member`` ``member_subscriber_id`` and ``flow create --doc`` that is no PDF
    ``documents[0].pdf``: the services' (and the API's) names, which no option of the command
    is called. Each now names the option (the error line and --json's ``field``), its code and
    exit code unchanged, nothing written."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.integration.test_seals import WANG, ZHANG, org_seal, world
    from yinxin.adapters.cli import app as cli_app

    p = platform
    w = world(p)
    seal = org_seal(w)
    env = cli_env(p)
    new = ["seal", "create", "--subscriber-id", str(w.zhang.id), "--kind", "personal"]
    new += ["--project", "百城e采平台项目", "--id-number", ZHANG.id_number]
    new += ["--declaration-accepted"]
    junk = tmp_path / "notes.pdf"
    junk.write_bytes(b"%PDF-1.7 but nothing else")
    cases = [
        ([*new, "--certificate", "abc123", "--holder", ZHANG.name], "certificate", 3),
        ([*new, "--certificate", w.zhang_cert.serial, "--holder", WANG.name], "holder", 2),
        (["seal", "renew", seal.es_id, "--certificate", "abc123"], "certificate", 3),
        (["seal", "change", seal.es_id, "--certificate", "abc123"], "certificate", 3),
        (["seal", "grant", seal.es_id, "--member", str(w.org.id)], "member", 2),
        (["seal", "withdraw", seal.es_id, "--member", str(w.li.id)], "member", 3),
        (
            ["flow", "create", "--title", "合同", "--doc", str(junk)]
            + ["--signer", f"subscriber={w.zhang.id},role=甲方"],
            "doc",
            2,
        ),
    ]
    before = dbdump.dump(p)
    for args, option, code in cases:
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.exit_code == code, (args, res.output)
        assert res.stderr.startswith(f"error [{option}]: "), (args, res.stderr)
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert json.loads(res.stdout)["field"] == option, (args, res.stdout)
    assert dbdump.dump(p) == before


def test_a_refused_init_leaves_nothing_behind(tmp_path: Path) -> None:
    """``yinxin init --algorithm nope`` (exit 2) or without a passphrase (exit 7) left an empty
    yinxin.db, and the data directory, behind. Nothing this call made is left now: a new data
    directory is gone, one that was there holds what it held; a later right init works."""
    new = tmp_path / "new"
    there = tmp_path / "there"
    there.mkdir()
    (there / "note.txt").write_text("kept")
    for home in (new, there):
        r = yinxin_cli(["init", "--algorithm", "nope", "--json"], home, check=False)
        assert r.returncode == 2 and json.loads(r.stdout)["field"] == "algorithm", r.stdout
        r = yinxin_cli(["init"], home, passphrase=None, check=False)
        assert r.returncode == 7 and r.stderr.startswith("error [passphrase]: "), r.stderr
    assert not new.exists()
    assert [c.name for c in there.iterdir()] == ["note.txt"]
    r = yinxin_cli(["init", "--json"], there)
    assert json.loads(r.stdout)["algorithm"] == "ec-p256"
    assert (there / "yinxin.db").exists() and (there / "note.txt").read_text() == "kept"
    # a refusal on a platform that is there (initialised already) leaves it whole
    files = sorted(p.relative_to(there) for p in there.rglob("*"))
    r = yinxin_cli(["init", "--algorithm", "nope"], there, check=False)
    assert r.returncode == 2
    assert sorted(p.relative_to(there) for p in there.rglob("*")) == files
    assert yinxin_cli(["ca", "status", "--json"], there, check=False).returncode == 0


def _pg_state(url: str) -> dict[str, int]:
    """Every table of the database's public schema with its row count."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = sorted(t for (t,) in tables)
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names}


def _pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


@pytest.mark.postgres
def test_a_refused_init_leaves_a_postgres_database_as_it_was(pg_cluster, tmp_path: Path) -> None:
    """On a server database (``YINXIN_DATABASE_URL``) a refused ``yinxin init`` (unknown
    ``--algorithm``, no passphrase, one too short) had migrated it first: 50 tables, an
    ``alembic_version`` and a webhook cursor row were left. Nothing is made now: the choices
    are checked before the database is touched."""
    url = pg_cluster.new_database()
    home = tmp_path / "home"
    env = {"YINXIN_DATABASE_URL": url}
    for args, passphrase, code, field in (
        (["init", "--algorithm", "nope"], PASSPHRASE, 2, "algorithm"),
        (["init"], None, 7, "passphrase"),
        (["init"], "short", 2, "passphrase"),
    ):
        r = yinxin_cli([*args, "--json"], home, passphrase=passphrase, env=env, check=False)
        assert r.returncode == code and json.loads(r.stdout)["field"] == field, r.stdout
        assert _pg_state(url) == {}, args
    assert not home.exists()
    yinxin_cli(["init"], home, env=env)
    assert _pg_state(url)["authority_certificates"] == 5


class _DiskFull:
    """``FileKeyStore.generate`` failing on the third key as on a full disk: an init half-way,
    after its first keys were written (``made`` counts the keys asked for)."""

    def __init__(self, monkeypatch) -> None:
        from yinxin.pki.keys import FileKeyStore

        self.made = 0
        self.generate = FileKeyStore.generate

        def full(store: FileKeyStore, label: str, algorithm: str):
            self.made += 1
            if self.made == 3:
                raise OSError(28, "No space left on device")
            return self.generate(store, label, algorithm)

        monkeypatch.setattr(FileKeyStore, "generate", full)


@pytest.mark.postgres
def test_an_init_failing_half_way_leaves_a_postgres_database_as_it_was(
    pg_cluster, tmp_path: Path, monkeypatch
) -> None:
    """An init that fails after the schema was made (the third CA key cannot be written, the
    disk full) removed its keys but left the migrated tables behind on a server database; a
    database at an older schema was left upgraded. The migration and the CA's rows are one
    transaction now: rolled back together, the database is as it was."""
    from alembic import command
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app
    from yinxin.pki.keys import FileKeyStore
    from yinxin.store.db import alembic_config

    disk = _DiskFull(monkeypatch)
    older = pg_cluster.new_database()  # at the schema before the newest migration
    command.upgrade(alembic_config(older), "0030")
    before = _pg_state(older)
    res = CliRunner().invoke(
        cli_app,
        ["init"],
        env=cli_env(tmp_path / "older", YINXIN_DATABASE_URL=older),
    )
    assert isinstance(res.exception, OSError) and disk.made == 3, res.output
    assert _pg_state(older) == before and _pg_version(older) == "0030"
    assert not (tmp_path / "older").exists()  # the two keys written went with it
    disk.made = 0
    url = pg_cluster.new_database()
    home = tmp_path / "home"
    env = cli_env(home, YINXIN_DATABASE_URL=url)
    res = CliRunner().invoke(cli_app, ["init"], env=env)
    assert isinstance(res.exception, OSError) and disk.made == 3, res.output
    assert _pg_state(url) == {}
    assert not home.exists()
    monkeypatch.setattr(FileKeyStore, "generate", disk.generate)
    assert CliRunner().invoke(cli_app, ["init"], env=env).exit_code == 0
    assert _pg_state(url)["authority_certificates"] == 5
    again = _pg_state(url)  # one initialised already is refused and left as it was
    res = CliRunner().invoke(cli_app, ["init"], env=env)
    assert res.exit_code == 6 and _pg_state(url) == again, res.output


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_init_failing_half_way_leaves_no_key_folder_in_a_data_directory_that_was_there(
    db: str, request, tmp_path: Path, monkeypatch
) -> None:
    """In a data directory that was there, with a database that was there too (a server's, or
    a SQLite file an earlier command made), an init failing after its first keys removed them
    but left the empty ``keys`` folder it had made; now that goes too, and nothing else."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    home = tmp_path / "home"
    home.mkdir()
    (home / "note.txt").write_text("kept")
    env = cli_env(home)
    if db == "postgres":
        env["YINXIN_DATABASE_URL"] = request.getfixturevalue("pg_cluster").new_database()
    else:  # a command that opens the platform makes the database
        assert CliRunner().invoke(cli_app, ["subscriber", "list"], env=env).exit_code == 0

    def listing() -> list[str]:  # SQLite's -wal and -shm come and go with its connections
        return sorted(c.name for c in home.iterdir() if not c.name.startswith("yinxin.db-"))

    there = listing()
    disk = _DiskFull(monkeypatch)
    res = CliRunner().invoke(cli_app, ["init"], env=env)
    assert isinstance(res.exception, OSError) and disk.made == 3, res.output
    assert listing() == there
    assert (home / "note.txt").read_text() == "kept"


def test_a_refused_init_on_an_initialised_platform_changes_nothing(any_platform) -> None:
    """``yinxin init`` over a platform that is set up already, right or wrong, is refused and
    leaves its database (every row) and its key files as they were."""
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    p = any_platform
    env = cli_env(p)
    keys = {f.name: f.read_bytes() for f in p.settings.keys_dir.iterdir()}
    before = dbdump.dump(p)
    for args, code in ((["--algorithm", "nope"], 2), ([], 6), (["--algorithm", "sm2"], 6)):
        res = CliRunner().invoke(cli_app, ["init", *args], env=env)
        assert res.exit_code == code, (args, res.output)
    res = CliRunner().invoke(cli_app, ["init"], env={**env, "YINXIN_CA_PASSPHRASE": ""})
    assert res.exit_code == 7, res.output
    assert dbdump.dump(p) == before
    assert {f.name: f.read_bytes() for f in p.settings.keys_dir.iterdir()} == keys


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_init_on_an_initialised_platform_at_an_older_schema_is_refused_before_the_upgrade(
    db: str, make_platform
) -> None:
    """``yinxin init`` over a platform set up already whose database is at an older schema
    revision (made by the previous version) upgraded a SQLite database to the newest schema and
    only then refused (exit 6, already initialised): half-applied, the operator's database
    changed by a refused command. It is refused now before the database is touched, revision
    and file as they were; the next ordinary command upgrades it, as at every start-up."""
    import hashlib

    from alembic import command
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app
    from yinxin.store.db import alembic_config

    p = make_platform(db)
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0030")
    env = cli_env(p)
    before = dbdump.dump(p)
    p.close()

    def file_hash() -> str | None:
        if db != "sqlite":
            return None
        return hashlib.sha256(Path(p.db.engine.url.database).read_bytes()).hexdigest()

    was = file_hash()
    res = CliRunner().invoke(cli_app, ["init", "--json"], env=env)
    assert res.exit_code == 6, res.output
    out = json.loads(res.output)
    assert out["field"] == "home" and "already initialised" in out["message"], out
    assert file_hash() == was
    assert dbdump.dump(p) == before  # the revision (alembic_version) included
    assert not p.db.at_head()
    # any other command upgrades it, as before
    assert CliRunner().invoke(cli_app, ["ca", "status", "--json"], env=env).exit_code == 0
    assert p.db.at_head()


def test_an_init_whose_key_folder_is_a_file_is_refused_naming_keystore(tmp_path: Path) -> None:
    """A file where the key store's folder goes (``HOME/keys``) ended ``yinxin init`` in a
    traceback (``FileExistsError``, exit 1). It is refused now, naming ``keystore`` and the
    path, exit 7, with nothing left but what was there; with the file gone, init works."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "keys").write_text("not a folder")
    r = yinxin_cli(["init", "--json"], home, check=False)
    assert r.returncode == 7 and "Traceback" not in r.stderr, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["field"] == "keystore" and str(home / "keys") in out["message"], out
    assert "a file is in the way" in out["message"], out
    assert [c.name for c in home.iterdir()] == ["keys"]
    (home / "keys").unlink()
    assert json.loads(yinxin_cli(["init", "--json"], home).stdout)["algorithm"] == "ec-p256"


def test_flow_create_signer_refusals_name_the_key_typed(platform, clock, tmp_path: Path) -> None:
    """``flow create --signer subscriber=…,seal=…,anchor=…,page=…,x=…,y=…,width=…``: a refusal
    of a key named the service's field, which no key is called: ``signers[0].subscriber_id``
    (none given, or no such subscriber) and ``signers[0].placement`` for every key placing the
    seal (an empty anchor, one not in a document, page 0 or past the last, x without y, x out
    of range, width 0). Each now names the key typed (``signers[0].anchor``, ``.page``, ``.x``,
    ``.y``, ``.width``, ``.subscriber``), code and exit code as before, nothing created."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from tests.integration.signing_flow import build_world
    from yinxin.adapters.cli import app as cli_app

    p = platform
    w = build_world(p, clock)
    env = cli_env(p)
    docs = []
    for i in (1, 2):
        (tmp_path / f"{i}.pdf").write_bytes(contract_pdf(i))
        docs += ["--doc", str(tmp_path / f"{i}.pdf")]
    jia = f"subscriber={w.jia.id},role=甲方,seal={w.jia.seal.es_id}"
    yi = f"subscriber={w.yi.id},role=乙方,seal={w.yi.seal.es_id}"
    cases = [
        ([f"role=甲方,seal={w.jia.seal.es_id}"], "signers[0].subscriber", 2),
        ([jia, f"subscriber=99999,role=乙方,seal={w.yi.seal.es_id}"], "signers[1].subscriber", 3),
        ([jia, f"subscriber={w.yi.id},role=乙方,seal=11000099999999"], "signers[1].seal", 3),
        ([f"{jia},anchor="], "signers[0].anchor", 2),
        ([f"{jia},anchor=没有这几个字"], "signers[0].anchor", 2),
        ([f"subscriber={w.yi.id},role=丙方,seal={w.yi.seal.es_id}"], "signers[0].anchor", 2),
        ([f"{jia},page=9,x=20,y=20"], "signers[0].page", 2),
        ([f"{jia},anchor=甲方（签章）,page=-3"], "signers[0].page", 2),
        ([f"{jia},page=0,x=20,y=20"], "signers[0].page", 2),
        ([f"{jia},x=20"], "signers[0].y", 2),
        ([f"{jia},y=20,page=1"], "signers[0].x", 2),
        ([f"{jia},page=1"], "signers[0].page", 2),
        ([f"{jia},width=30"], "signers[0].width", 2),
        ([f"{jia},x=-5,y=20"], "signers[0].x", 2),
        ([f"{jia},x=20,y=nan"], "signers[0].y", 2),
        ([f"{jia},x=20,y=20,width=0"], "signers[0].width", 2),
        ([f"{jia},anchor=甲方（签章）,width=-5"], "signers[0].width", 2),
        ([f"{jia},order=1", f"{yi},order=1"], "signers[1].order", 2),
    ]
    before = dbdump.dump(p)
    for signers, field, code in cases:
        args = ["flow", "create", "--title", "合同", *docs]
        for s in signers:
            args += ["--signer", s]
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.exit_code == code, (signers, res.output)
        assert res.stderr.startswith(f"error [{field}]: "), (signers, res.stderr)
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert json.loads(res.stdout)["field"] == field, (signers, res.stdout)
    assert dbdump.dump(p) == before
    # the keys together, in range, make the flow
    res = CliRunner().invoke(
        cli_app,
        ["flow", "create", "--title", "合同", *docs, "--signer", f"{jia},page=1,x=20,y=20,width=30"]
        + ["--signer", f"{yi},anchor=乙方（签章）", "--json"],
        env=env,
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["signers"][0]["placements"][0]["width_mm"] == 30


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            ["flow", "create", "--title", "t", "--doc", "{pdf}", "--signer"]
            + ["subscriber=1,role=甲方,seal=11000026000001,seal=11000026000002"],
            "signers[0].seal",
        ),
        (
            ["contract", "send", "1", "--signer", "role=甲方,subscriber=3,seal=1"]
            + ["--signer", "role=乙方,subscriber=1,role=甲方,seal=2"],
            "signers[1].role",
        ),
    ],
)
def test_a_signer_key_given_twice_is_refused(tmp_path: Path, args, field) -> None:
    """``--signer subscriber=1,seal=A,seal=B`` was taken with the last value, so a signer
    could be sent with a seal, a role or a turn other than the one read first (by a person
    checking the command, a log); now it is refused naming the key, exit 2, nothing built."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    res = CliRunner().invoke(
        cli_app, [a.format(pdf=pdf) for a in args] + ["--json"], env={"YINXIN_HOME": str(home)}
    )
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)
    assert err["field"] == field and "given twice" in err["message"], err
    assert not home.exists()


def _contract_world(platform, clock):
    """A world of signers and a drafted platform-integration contract between 甲方 (the
    organization, 王五 signing) and 乙方 (张三); the environment a CLI run on it takes."""
    from tests.integration.signing_flow import build_world
    from tests.integration.test_contracts import _values

    p = platform
    w = build_world(p, clock)
    code = "platform-integration"
    c = p.contracts.draft(code, _values(w, code), owner_subscriber_id=w.org.id, actor="王五")
    env = cli_env(p)
    return w, c, env


def test_contract_send_signer_refusals_name_the_key_typed(platform, clock) -> None:
    """``contract send --signer role=…,subscriber=…,seal=…``: a ``subscriber=`` that is no
    whole number, or names no subscriber, was refused naming ``signers[1].subscriber_id``,
    which no key of the value is called (one left out named ``signers[1].subscriber``). Each
    now names ``signers[1].subscriber``, code and exit code as before, nothing sent."""
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    w, c, env = _contract_world(platform, clock)
    jia = f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}"
    cases = [
        (f"role=乙方,subscriber=x,seal={w.yi.seal.es_id}", 2),
        (f"role=乙方,subscriber=99999,seal={w.yi.seal.es_id}", 3),
        (f"role=乙方,seal={w.yi.seal.es_id}", 2),
    ]
    before = dbdump.dump(platform)
    for yi, code in cases:
        args = ["contract", "send", str(c.id), "--signer", jia, "--signer", yi]
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.exit_code == code, (yi, res.output)
        assert res.stderr.startswith("error [signers[1].subscriber]: "), (yi, res.stderr)
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert json.loads(res.stdout)["field"] == "signers[1].subscriber", (yi, res.stdout)
    assert dbdump.dump(platform) == before


def send_refused_not_the_party(platform, args: list[str], env: dict) -> str:
    """``args`` (a ``contract send``) refused naming ``signers[0].seal``, exit 2, the same in
    ``--json`` with code ``not_the_party``, and no flow made; the refusal's line, to read."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    res = CliRunner().invoke(cli_app, args, env=env)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error [signers[0].seal]: "), res.stderr
    refused = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
    assert refused.exit_code == 2, refused.output
    err = json.loads(refused.stdout)
    assert (err["field"], err["error"]) == ("signers[0].seal", "not_the_party"), err
    assert not platform.flows.list().items
    return res.stderr


def test_contract_send_refuses_a_seal_not_of_the_party_the_contract_names(platform, clock) -> None:
    """``contract send`` of a contract naming 甲方 北京某某科技有限公司 with the world
    organization's seal for 甲方: refused naming ``signers[0].seal`` (code ``not_the_party``),
    exit 2, no flow, nothing sent."""

    from tests import dbdump
    from tests.integration.test_contracts import _values

    w, _c, env = _contract_world(platform, clock)
    code = "platform-integration"
    c = platform.contracts.draft(
        code,
        _values(w, code) | {"client_name": "北京某某科技有限公司"},
        owner_subscriber_id=w.org.id,
        actor="王五",
    )
    jia = f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}"
    yi = f"role=乙方,subscriber={w.yi.id},seal={w.yi.seal.es_id}"
    args = ["contract", "send", str(c.id), "--signer", jia, "--signer", yi]
    before = dbdump.dump(platform)
    stderr = send_refused_not_the_party(platform, args, env)
    assert "北京某某科技有限公司" in stderr and w.org.name in stderr, stderr
    assert dbdump.dump(platform) == before


def test_contract_send_refuses_a_namesakes_seal_for_a_person_party(platform, clock) -> None:
    """``contract send`` of a 电子印章申请表 naming 甲方 张三 with 居民身份证号码
    350102198511223455, sealed for 甲方 with the seal of the 张三 whose number is
    110105199003071239: sent (names alike). Now refused naming ``signers[0].seal`` (code
    ``not_the_party``), both numbers masked, exit 2, no flow, nothing sent."""

    from tests import dbdump
    from tests.integration.test_contracts import PERSON_ID, _seal_agreement

    w, _c, env = _contract_world(platform, clock)
    c, _signers = _seal_agreement(w, id_number="350102198511223455")
    jia = f"role=甲方,subscriber={w.person.id},seal={w.yi.seal.es_id}"
    yi = f"role=乙方,subscriber={w.member.id},seal={w.jia.seal.es_id}"
    args = ["contract", "send", str(c.id), "--signer", jia, "--signer", yi]
    before = dbdump.dump(platform)
    stderr = send_refused_not_the_party(platform, args, env)
    assert "350***********3455" in stderr and "居民身份证号码" in stderr, stderr
    assert "350102198511223455" not in stderr and PERSON_ID not in stderr, stderr
    assert dbdump.dump(platform) == before


def test_contract_send_refuses_a_video_value_it_cannot_read(platform, clock) -> None:
    """``contract send --signer …,video=maybe`` (or ``video=ja``, ``video=``) was read as no
    video and the contract sent, exit 0: anything but yes, true or 1 meant no. Now only
    yes/no, true/false, 1/0 are taken; another value is refused naming ``signers[1].video``,
    exit 2, nothing sent."""
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    w, c, env = _contract_world(platform, clock)
    jia = f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}"
    yi = f"role=乙方,subscriber={w.yi.id},seal={w.yi.seal.es_id}"
    before = dbdump.dump(platform)
    for value in ("maybe", "ja", "", "是"):
        args = ["contract", "send", str(c.id), "--signer", jia, "--signer", f"{yi},video={value}"]
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert res.exit_code == 2, (value, res.output)
        err = json.loads(res.stdout)
        assert err["field"] == "signers[1].video" and "yes or no" in err["message"], err
    assert dbdump.dump(platform) == before
    args = ["contract", "send", str(c.id), "--signer", f"{jia},video=No"]
    res = CliRunner().invoke(cli_app, [*args, "--signer", f"{yi},video=YES", "--json"], env=env)
    assert res.exit_code == 0, res.output
    flow = platform.flows.get(json.loads(res.stdout)["contract"]["flow_id"])
    assert [x.requires_video for x in flow.signers] == [False, True]


def test_an_owner_refused_is_named_owner(platform, clock, tmp_path: Path) -> None:
    """``flow create --owner`` and ``contract draft --owner`` naming no subscriber, or a person
    rather than an organization, were refused naming ``owner_subscriber_id``, the service's
    name, which no option of the command is called. Each now names ``owner``, code and exit
    code as before, nothing created."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app

    w, _c, env = _contract_world(platform, clock)
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    signer = f"subscriber={w.jia.id},role=甲方,seal={w.jia.seal.es_id}"
    commands = [
        ["flow", "create", "--title", "合同", "--doc", str(pdf), "--signer", signer],
        ["contract", "draft", "om-service", "--example"],
    ]
    before = dbdump.dump(platform)
    for args in commands:
        for owner, code in (("99999", 3), (str(w.person.id), 2)):
            res = CliRunner().invoke(cli_app, [*args, "--owner", owner], env=env)
            assert res.exit_code == code, (args, owner, res.output)
            assert res.stderr.startswith("error [owner]: "), (args, owner, res.stderr)
            res = CliRunner().invoke(cli_app, [*args, "--owner", owner, "--json"], env=env)
            assert json.loads(res.stdout)["field"] == "owner", (args, owner, res.stdout)
    assert dbdump.dump(platform) == before


def test_flow_sign_refusals_name_link_and_challenge(platform, clock) -> None:
    """``flow sign --link`` with no such link was refused naming ``token``, a ``--challenge``
    that is no code request naming ``challenge_id`` and one sent for another flow's documents
    ``document_sha256``: the service's names, which no option of the command is called. They
    now name ``link`` and ``challenge``, code and exit code as before, nothing signed and no
    code sent (the failed attempts audited, as before)."""
    import datetime as dt

    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app
    from yinxin.signing.flows import SignerSpec

    w, _c, env = _contract_world(platform, clock)
    flow = platform.flows.create(
        "合同",
        documents=[("a.pdf", contract_pdf(1))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    link = platform.flows.start(flow.id).links[0].url
    other = platform.flows.create(
        "另一份合同",
        documents=[("b.pdf", contract_pdf(2))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    # a code 张三 asked for to sign another flow's documents
    elsewhere = platform.flows.request_code(platform.flows.start(other.id).links[0].token)
    secrets = {**env, "YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": "123456"}
    cases = [
        (["--link", "http://127.0.0.1:8000/sign/nope"], "link", 3),
        (["--link", "nope", "--challenge", "0" * 32], "link", 3),
        (["--link", link, "--challenge", "nope"], "challenge", 3),
        (["--link", link, "--challenge", "0" * 32], "challenge", 3),
        (["--link", link, "--challenge", elsewhere.challenge_id], "challenge", 5),
    ]
    before = dbdump.dump(platform)
    for args, field, code in cases:
        res = CliRunner().invoke(cli_app, ["flow", "sign", *args], env=secrets)
        assert res.exit_code == code, (args, res.output)
        assert res.stderr.startswith(f"error [{field}]: "), (args, res.stderr)
        res = CliRunner().invoke(cli_app, ["flow", "sign", *args, "--json"], env=secrets)
        assert json.loads(res.stdout)["field"] == field, (args, res.stdout)
    # each refused attempt is audited (intent.confirm_failed), nothing else is written
    after = dbdump.dump(platform)
    assert [k for k in after if after[k] != before[k]] == ["audit_events", "audit_head"]


def test_days_and_deadline_together_are_refused(platform, clock, tmp_path: Path) -> None:
    """``flow create`` and ``contract send`` take ``--days N | --deadline TIME``; given both,
    ``--days`` was dropped without a word (the flow made with the deadline, exit 0; even
    ``--days 0``, refused alone). Now both together are refused naming ``days``, exit 2,
    nothing created or sent."""
    import datetime as dt

    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app

    w, c, env = _contract_world(platform, clock)
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    jia = f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}"
    yi = f"role=乙方,subscriber={w.yi.id},seal={w.yi.seal.es_id}"
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).isoformat(timespec="seconds")
    commands = [
        ["flow", "create", "--title", "合同", "--doc", str(pdf), "--signer", jia],
        ["contract", "send", str(c.id), "--signer", jia, "--signer", yi],
    ]
    before = dbdump.dump(platform)
    for args in commands:
        for days in ("3", "0"):
            res = CliRunner().invoke(
                cli_app, [*args, "--days", days, "--deadline", when, "--json"], env=env
            )
            assert res.exit_code == 2, (args, res.output)
            err = json.loads(res.stdout)
            assert err["field"] == "days" and "not both" in err["message"], err
    assert dbdump.dump(platform) == before


def test_flow_sign_refuses_signing_options_without_a_challenge(platform, clock) -> None:
    """``flow sign`` without ``--challenge`` sends a code: given ``--code`` (the one received,
    --challenge forgotten), ``--pin``, ``--pin-stdin`` or ``--client-ip`` it dropped them and
    sent a new code, exit 0, the signer's code spent on nothing. Now each is refused naming it,
    exit 2, no code sent."""
    import datetime as dt

    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app
    from yinxin.signing.flows import SignerSpec

    w, _c, env = _contract_world(platform, clock)
    flow = platform.flows.create(
        "合同",
        documents=[("a.pdf", contract_pdf(1))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    link = platform.flows.start(flow.id).links[0].url
    cases = [
        (["--code", "123456"], "code"),
        (["--pin", w.yi.pin], "pin"),
        (["--pin-stdin"], "pin_stdin"),
        (["--client-ip", "203.0.113.5"], "client_ip"),
    ]
    before = dbdump.dump(platform)
    for args, field in cases:
        res = CliRunner().invoke(cli_app, ["flow", "sign", "--link", link, *args], env=env)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith(f"error [{field}]: "), (args, res.stderr)
        assert "--challenge" in res.stderr and w.yi.pin not in res.stderr, res.stderr
    assert dbdump.dump(platform) == before


def test_a_refusal_of_the_signers_together_names_signer(platform, clock, tmp_path: Path) -> None:
    """A refusal of the ``--signer``s as a whole (``flow create`` with more than 20,
    ``contract send`` with none for a party) named ``signers``, the service's list, where the
    command's option is ``--signer`` (as ``--doc`` is named ``doc``). They now name
    ``signer``, exit 2, nothing created or sent."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app

    w, c, env = _contract_world(platform, clock)
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    jia = f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}"
    commands = [
        ["flow", "create", "--title", "合同", "--doc", str(pdf)] + ["--signer", jia] * 21,
        ["contract", "send", str(c.id), "--signer", jia],
    ]
    before = dbdump.dump(platform)
    for args in commands:
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.exit_code == 2, (args[:2], res.output)
        assert res.stderr.startswith("error [signer]: "), (args[:2], res.stderr)
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert json.loads(res.stdout)["field"] == "signer", (args[:2], res.stdout)
    assert dbdump.dump(platform) == before


def test_sign_batch_refuses_signing_options_without_a_challenge(platform, clock, tmp_path) -> None:
    """``sign batch`` without ``--challenge`` sends a code: given ``--code`` (the one received,
    --challenge forgotten), ``--pin`` or ``--pin-stdin`` it dropped them and sent a new code,
    exit 0, the signer's code spent on nothing. Now each is refused naming it, exit 2, no code
    sent."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app

    w, _c, env = _contract_world(platform, clock)
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    args = ["sign", "batch", str(pdf), "--seal", w.yi.seal.es_id, "--signer", str(w.yi.id)]
    args += ["--anchor", "乙方（签章）"]
    cases = [
        (["--code", "123456"], "code"),
        (["--pin", w.yi.pin], "pin"),
        (["--pin-stdin"], "pin_stdin"),
    ]
    before = dbdump.dump(platform)
    for more, field in cases:
        res = CliRunner().invoke(cli_app, [*args, *more], env=env)
        assert res.exit_code == 2, (more, res.output)
        assert res.stderr.startswith(f"error [{field}]: "), (more, res.stderr)
        assert "--challenge" in res.stderr and w.yi.pin not in res.stderr, res.stderr
    assert dbdump.dump(platform) == before


def test_sign_refusals_of_a_challenge_name_challenge(platform, clock, tmp_path) -> None:
    """``sign pdf`` and ``sign batch`` refused a ``--challenge`` that is malformed, no code
    request, another signer's or sent for other documents naming ``challenge_id`` (or
    ``document_sha256``), the service's fields, which neither command has an option for. Now
    they name ``challenge``, code and exit code unchanged, nothing signed."""
    from typer.testing import CliRunner

    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app

    w, _c, env = _contract_world(platform, clock)
    env = {**env, "YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": "123456"}
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    other = contract_pdf(1, title="另一份合同")
    jias = platform.signing.request_confirmation(
        signer_subscriber_id=w.jia.id, document=pdf.read_bytes(), document_name="a.pdf"
    ).challenge_id
    elsewhere = platform.signing.request_confirmation(
        signer_subscriber_id=w.yi.id, document=other, document_name="b.pdf"
    ).challenge_id
    cases = [
        ("xyz", "not_found", 3),
        ("0" * 32, "not_found", 3),
        (jias, "wrong_subscriber", 5),
        (elsewhere, "wrong_document", 5),
    ]
    verbs = {
        "pdf": ["--in", str(pdf), "--out", str(tmp_path / "o.pdf")],
        "batch": [str(pdf), "--out-dir", str(tmp_path)],
    }
    seen = {}
    for verb, more in verbs.items():
        args = ["sign", verb, *more, "--seal", w.yi.seal.es_id, "--signer", str(w.yi.id)]
        args += ["--anchor", "乙方（签章）", "--json"]
        for challenge, _code, _exit in cases:
            res = CliRunner().invoke(cli_app, [*args, "--challenge", challenge], env=env)
            out = json.loads(res.stdout)
            seen[verb, challenge] = (out.get("field"), out.get("error"), res.exit_code)
    assert seen == {
        (verb, challenge): ("challenge", code, exit_code)
        for verb in verbs
        for challenge, code, exit_code in cases
    }
    assert not (tmp_path / "o.pdf").exists() and not (tmp_path / "a-signed.pdf").exists()


def test_flow_urge_shows_the_next_time_with_its_date_and_zone(platform, clock) -> None:
    """``flow urge`` printed "next possible at 14:05": an hour and minute in UTC with no zone,
    read as local time (Beijing, eight hours off) and with no date, where ``flow show`` prints
    the deadline as ``2026-12-05 14:05 UTC``. It prints the next time the same way now."""
    import datetime as dt
    import re

    from typer.testing import CliRunner

    from tests.fixtures.samples import contract_pdf
    from yinxin.adapters.cli import app as cli_app
    from yinxin.signing.flows import SignerSpec

    w, _c, env = _contract_world(platform, clock)
    flow = platform.flows.create(
        "合同",
        documents=[("a.pdf", contract_pdf(1))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    platform.flows.start(flow.id)
    signer = platform.flows.get(flow.id).signers[0].id
    res = CliRunner().invoke(cli_app, ["flow", "urge", str(flow.id), str(signer)], env=env)
    assert res.exit_code == 0, res.output
    assert re.search(r"next possible at \d{4}-\d\d-\d\d \d\d:\d\d UTC$", res.stdout.strip()), (
        res.stdout
    )


def test_sign_batch_checks_its_level_before_a_code_is_sent(platform, clock, tmp_path) -> None:
    """``sign batch`` signs at the ``--level`` of the run that carries the code; the first run,
    which sends the code, did not look at it: ``--level B-X`` there sent a code (an SMS spent)
    and was refused only at the second run. Now the first run refuses it naming level, exit 2,
    no code sent; the second signs at the level it is given."""
    from typer.testing import CliRunner

    from tests import dbdump
    from tests.fixtures.samples import contract_pdf
    from tests.integration.signing_flow import outbox_lines, read_code
    from yinxin.adapters.cli import app as cli_app

    w, _c, env = _contract_world(platform, clock)
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(contract_pdf(1))
    args = ["sign", "batch", str(pdf), "--seal", w.yi.seal.es_id, "--signer", str(w.yi.id)]
    args += ["--anchor", "乙方（签章）"]
    before = dbdump.dump(platform)
    for bad in ("B-X", "b-b", ""):
        res = CliRunner().invoke(cli_app, [*args, "--level", bad, "--json"], env=env)
        assert res.exit_code == 2, (bad, res.output)
        assert json.loads(res.stdout)["field"] == "level", res.stdout
    assert dbdump.dump(platform) == before  # no code sent
    # the level of the signing run is the one signed at
    sent = outbox_lines(w.outbox)
    res = CliRunner().invoke(cli_app, [*args, "--level", "B-B", "--json"], env=env)
    assert res.exit_code == 0, res.output
    challenge = json.loads(res.stdout)["challenge_id"]
    code = read_code(w.outbox, w.yi.phone, after=sent)
    secrets = {**env, "YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": code}
    more = ["--challenge", challenge, "--level", "B-T", "--json"]
    res = CliRunner().invoke(cli_app, [*args, *more], env=secrets)
    assert res.exit_code == 0, res.output
    assert [r["level"] for r in json.loads(res.stdout)["records"]] == ["B-T"]


def test_authorization_grant_refusals_name_the_option_typed(platform) -> None:
    """``authorization grant`` refusals named the service's fields: ``--max 0``
    ``max_documents``, ``--until`` in the past ``valid_until``, ``--by`` no subscriber
    ``granted_by_subscriber_id``, ``--counterparty`` no subscriber ``counterparties``,
    ``--flow`` no flow ``flow_ids`` — options the command does not have. Each now names the
    option typed, code and exit code unchanged, nothing written."""
    import datetime as dt

    from typer.testing import CliRunner

    from tests import dbdump
    from tests.integration.test_seals import PIN_ORG, org_seal, world
    from yinxin.adapters.cli import app as cli_app

    p = platform
    w = world(p)
    seal = org_seal(w)
    env = cli_env(p, YINXIN_SEAL_PIN=PIN_ORG)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(microsecond=0).isoformat()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=7)).replace(microsecond=0).isoformat()
    base = ["authorization", "grant", "--seal", seal.es_id, "--by", str(w.org.id)]
    cases = [
        ([*base, "--max", "0", "--until", soon], "max", 2),
        ([*base, "--max", "5", "--until", past], "until", 2),
        ([*base, "--max", "5", "--until", soon, "--counterparty", "999999"], "counterparty", 3),
        ([*base, "--max", "5", "--until", soon, "--counterparty", "0"], "counterparty", 2),
        ([*base, "--max", "5", "--until", soon, "--flow", "999999"], "flow", 3),
        (["authorization", "grant", "--seal", seal.es_id, "--by", "999999", "--max", "5",
          "--until", soon], "by", 3),
    ]  # fmt: skip
    before = dbdump.dump(p)
    for args, option, code in cases:
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert res.exit_code == code, (args, res.output)
        assert json.loads(res.stdout)["field"] == option, (args, res.stdout)
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.stderr.startswith(f"error [{option}]: "), (args, res.stderr)
    after = dbdump.dump(p)
    assert [k for k in after if after[k] != before[k]] in ([], ["audit_events", "audit_head"])


def test_webhook_subscribe_refusals_name_the_option_typed(platform) -> None:
    """``webhook subscribe --organization N`` naming no organization was refused naming the
    service's ``owner_organization_id``, and no ``--event`` that is a type ``events``: fields
    no option of the command is called. They name ``organization`` and ``event`` now, code
    and exit code unchanged, nothing written."""
    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    p = platform
    env = cli_env(p)
    base = ["webhook", "subscribe", "--url", "https://hooks.example.cn/yinxin"]
    cases = [
        ([*base, "--event", "*", "--organization", "999999"], "organization"),
        ([*base, "--event", " "], "event"),
    ]
    before = dbdump.dump(p)
    for args, option in cases:
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        assert res.exit_code == 2, (args, res.output)
        assert json.loads(res.stdout)["field"] == option, (args, res.stdout)
    assert dbdump.dump(p) == before


def test_flow_list_and_show_print_every_time_with_its_zone(platform, clock) -> None:
    """``flow list`` printed the deadline as ``2026-12-08 14:05`` and ``flow show`` a signer's
    signing time as ``signed 2026-12-05 14:05``: UTC with no zone, read by an operator in
    Beijing as local time (eight hours off), where ``flow show``'s own deadline and ``flow
    urge`` say ``UTC``. Every time is printed the one way now; ``--json`` keeps ISO 8601."""
    import datetime as dt
    import json
    import re

    from typer.testing import CliRunner

    from tests.fixtures.samples import contract_pdf
    from tests.integration.signing_flow import outbox_lines, read_code
    from yinxin.adapters.cli import app as cli_app
    from yinxin.signing.flows import SignerSpec

    w, _c, env = _contract_world(platform, clock)
    flow = platform.flows.create(
        "合同",
        documents=[("a.pdf", contract_pdf(1))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    link = platform.flows.start(flow.id).links[0]
    before = outbox_lines(w.outbox)
    ch = platform.flows.request_code(link.token)
    code = read_code(w.outbox, w.yi.phone, after=before)
    platform.flows.sign(link.token, pin=w.yi.pin, challenge_id=ch.challenge_id, code=code)
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    runner = CliRunner()
    res = runner.invoke(cli_app, ["flow", "list"], env=env)
    assert res.exit_code == 0, res.output
    assert re.search(rf"deadline {when}$", res.stdout.strip()), res.stdout
    res = runner.invoke(cli_app, ["flow", "list", "--json"], env=env)
    deadline = json.loads(res.stdout)["items"][0]["deadline"]
    assert dt.datetime.fromisoformat(deadline).utcoffset() == dt.timedelta(0), deadline
    res = runner.invoke(cli_app, ["flow", "show", str(flow.id)], env=env)
    assert res.exit_code == 0, res.output
    assert re.search(rf"deadline {when}$", res.stdout.splitlines()[0]), res.stdout
    assert re.search(rf"  signed {when}$", res.stdout), res.stdout


def test_contract_preview_refuses_an_out_that_is_one_of_its_inputs(platform, tmp_path) -> None:
    """``contract preview CODE --values v.json --out v.json`` replaced the values file with the
    PDF (exit 0), and ``--attach specification_pdf=spec.pdf --out spec.pdf`` the customer's PDF.
    An --out that is an input (by name, another spelling or a link) is refused naming out,
    exit 2, the input as it was and nothing stored."""
    import os

    from typer.testing import CliRunner

    from tests import dbdump
    from yinxin.adapters.cli import app as cli_app

    p = platform
    env = cli_env(p)
    work = tmp_path / "work"  # the platform's home is in tmp_path too
    work.mkdir()
    values = work / "v.json"
    values.write_text('{"payment_days": 45}', "utf-8")
    (work / "link.json").symlink_to(values)
    spec = work / "spec.pdf"
    spec.write_bytes(b"%PDF-1.7\n%%EOF\n")
    preview = ["contract", "preview", "tech-service", "--example", "--json"]
    cases = [
        ["--values", str(values), "--out", str(values)],
        ["--values", str(values), "--out", str(work / "." / "v.json")],
        ["--values", str(values), "--out", str(work / "link.json")],
        ["--values", "v.json", "--out", "./v.json"],
        ["--attach", f"specification_pdf={spec}", "--out", str(spec)],
    ]
    before = dbdump.dump(p)
    here = os.getcwd()
    os.chdir(work)
    try:
        for args in cases:
            res = CliRunner().invoke(cli_app, [*preview, *args], env=env)
            assert res.exit_code == 2, (args, res.output)
            err = json.loads(res.stdout)
            assert err["field"] == "out" and "another name" in err["message"], err
    finally:
        os.chdir(here)
    assert values.read_text("utf-8") == '{"payment_days": 45}'
    assert spec.read_bytes() == b"%PDF-1.7\n%%EOF\n"
    assert sorted(x.name for x in work.iterdir()) == ["link.json", "spec.pdf", "v.json"]
    assert dbdump.dump(p) == before
    out = work / "p.pdf"
    res = CliRunner().invoke(
        cli_app, [*preview, "--values", str(values), "--out", str(out)], env=env
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")


def test_init_records_the_actor_given(tmp_path: Path) -> None:
    """``yinxin init`` recorded the authority it made (every ``authority.*`` event) as made by
    ``operator`` and took no ``--actor``, where ``ca add-hierarchy`` records who acts; it
    records ``--actor`` now (``operator`` when it is left out), a blank one refused before the
    data directory is made."""
    from yinxin.app import Platform
    from yinxin.settings import Settings

    def actors(home: Path) -> set[str]:
        p = Platform(Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"))
        try:
            return {e.actor for e in p.audit_events(subject_type="authority")}
        finally:
            p.close()

    blank = tmp_path / "blank"
    r = yinxin_cli(["init", "--actor", " ", "--json"], blank, check=False)
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "actor", r.stdout
    assert not blank.exists()
    yinxin_cli(["init", "--actor", "运维 张三"], tmp_path / "given")
    assert actors(tmp_path / "given") == {"运维 张三"}
    yinxin_cli(["init"], tmp_path / "default")
    assert actors(tmp_path / "default") == {"operator"}
