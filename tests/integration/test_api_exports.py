"""The data handover over HTTP (in-process, the whole server app): an administrator makes an
export (idempotent), lists it, reads its summary, downloads the folder as a zip whose every
file matches the manifest, and deletes it; other roles are refused, organization-bound keys see
nothing, bad names are refused naming ``name``, and a folder changed after export is not handed
out. Each act is checked on the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests import dbdump
from tests.integration.api_world import problem_of
from tests.integration.signing_flow import World


def _auth(w: World) -> dict[str, dict[str, str]]:
    p = w.p
    made = {
        "admin": p.api_keys.create(name="管理员", role="administrator", actor="t").secret,
        "bound_integration": p.api_keys.create(
            name="甲方OA", role="integration", organization_id=w.org.id, actor="t"
        ).secret,
        "officer": p.api_keys.create(name="受理员", role="ra_officer", actor="t").secret,
        "org": p.api_keys.create(
            name="机构管理员", role="organization_admin", organization_id=w.org.id, actor="t"
        ).secret,
        "integration": p.api_keys.create(name="OA", role="integration", actor="t").secret,
    }
    return {k: {"Authorization": f"Bearer {v}"} for k, v in made.items()}


def _events(w: World, action: str) -> list:
    return w.p.audit_events(action=action, limit=1000)


def _without_audit(dump: dict) -> dict:
    return {t: rows for t, rows in dump.items() if t not in ("audit_events", "audit_head")}


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256 (the exports folder, before/after checks)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_make_list_download_delete(client, world, tmp_path):
    auth = _auth(world)
    admin = auth["admin"]
    root = world.p.settings.home / "exports"

    # --- make, idempotently ---------------------------------------------------------------
    key = {"Idempotency-Key": "export-1"}
    r = client.post("/api/v1/exports", headers=admin | key)
    assert r.status_code == 201, r.text
    made = r.json()
    again = client.post("/api/v1/exports", headers=admin | key)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == made
    folders = [p.name for p in root.iterdir() if not p.name.startswith(".")]
    assert folders == [made["name"]]  # the retry made no second export
    assert len(_events(world, "handover.exported")) == 1

    name = made["name"]
    folder = root / name
    manifest_raw = (folder / "manifest.json").read_bytes()
    manifest = json.loads(manifest_raw)
    assert made["format"] == "yinxin-handover" and made["format_version"] == 1
    assert made["exported_at"].endswith("Z")
    assert dt.datetime.fromisoformat(made["exported_at"]) == dt.datetime.fromisoformat(
        manifest["exported_at"]
    )
    assert made["manifest_sha256"] == hashlib.sha256(manifest_raw).hexdigest()
    assert made["manifest_as_exported"] is True
    assert made["schema_revisions"] == manifest["source"]["schema_revisions"]
    assert made["tables"] == {t: v["rows"] for t, v in manifest["tables"].items()}
    assert made["tables"]["subscribers"] == dbdump.count(
        world.p, __import__("yinxin.store.models", fromlist=["Subscriber"]).Subscriber
    )
    assert made["rows"] == sum(made["tables"].values()) > 0
    assert made["files"] == len(manifest["files"]) > 0  # the seal images at least
    assert made["file_bytes"] == sum(f["size"] for f in manifest["files"].values())
    (created,) = _events(world, "export.created")
    assert created.subject_id == name
    assert created.data["manifest_sha256"] == made["manifest_sha256"]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)

    # --- list and summary -----------------------------------------------------------------
    r = client.get("/api/v1/exports", headers=admin)
    assert r.status_code == 200 and r.json() == [made]
    r = client.get(f"/api/v1/exports/{name}", headers=admin)
    assert r.status_code == 200 and r.json() == made

    # --- download: stream, headers, every file against the manifest ----------------------
    with client.stream("GET", f"/api/v1/exports/{name}/archive", headers=admin) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "application/zip"
        assert f"yinxin-export-{name}.zip" in r.headers["content-disposition"]
        chunks = list(r.iter_raw())
    body = b"".join(chunks)
    assert len(body) == int(r.headers["content-length"])
    sha = hashlib.sha256(body).hexdigest()
    assert r.headers["x-archive-sha256"] == sha
    assert r.headers["repr-digest"].startswith("sha-256=:")
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert all(n.startswith(f"{name}/") for n in names)
        got = {n[len(name) + 1 :]: z.read(n) for n in names}
    assert got["manifest.json"] == manifest_raw
    expected = {t["file"]: t["sha256"] for t in manifest["tables"].values()}
    expected |= {f"files/{k}": k for k in manifest["files"]}
    expected |= {p: f["sha256"] for p, f in manifest["readable"].items()}
    assert set(got) - {"manifest.json"} == set(expected)
    for rel, want in expected.items():
        assert hashlib.sha256(got[rel]).hexdigest() == want, rel
    # the archive is the same bytes each time (its hash could be given before it was sent)
    again = client.get(f"/api/v1/exports/{name}/archive", headers=admin)
    assert hashlib.sha256(again.content).hexdigest() == sha
    downloads = _events(world, "export.downloaded")
    assert [e.data["archive_sha256"] for e in downloads] == [sha, sha]
    # a HEAD (a download manager asking the size) gets the GET's headers and no body, and is
    # no download: the audit trail said the subscribers' data was downloaded a third time
    head = client.head(f"/api/v1/exports/{name}/archive", headers=admin)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["x-archive-sha256"] == sha
    assert head.headers["content-length"] == str(len(body))
    assert len(_events(world, "export.downloaded")) == 2

    # --- delete ---------------------------------------------------------------------------
    r = client.delete(f"/api/v1/exports/{name}", headers=admin)
    assert r.status_code == 204, r.text
    assert not folder.exists()
    problem_of(client.get(f"/api/v1/exports/{name}", headers=admin), 404, "name")
    problem_of(client.delete(f"/api/v1/exports/{name}", headers=admin), 404, "name")
    assert client.get("/api/v1/exports", headers=admin).json() == []
    (deleted,) = _events(world, "export.deleted")
    assert deleted.subject_id == name
    assert deleted.data["manifest_sha256"] == made["manifest_sha256"]
    assert world.p.verify_audit().ok

    # the staff page's shell and its place among the desk tabs (the data is the API's)
    page = client.get("/desk/exports")
    assert page.status_code == 200
    assert "数据移交" in page.text and "/static/pages/desk_exports.js" in page.text
    assert 'href="/desk/exports" aria-current="page"' in page.text
    assert 'href="/desk/exports"' in client.get("/desk/audit").text
    script = client.get("/static/pages/desk_exports.js")
    assert script.status_code == 200 and "/exports" in script.text


def test_roles_scope_and_names_refused(client, world):
    auth = _auth(world)
    made = client.post("/api/v1/exports", headers=auth["admin"]).json()
    name = made["name"]
    root = world.p.settings.home / "exports"
    before, files = dbdump.dump(world.p), _tree(root)
    calls = [
        ("POST", "/api/v1/exports"),
        ("GET", "/api/v1/exports"),
        ("GET", f"/api/v1/exports/{name}"),
        ("GET", f"/api/v1/exports/{name}/archive"),
        ("DELETE", f"/api/v1/exports/{name}"),
    ]
    for who in ("officer", "integration"):
        for method, url in calls:
            problem_of(client.request(method, url, headers=auth[who]), 403, "role")
    for method, url in calls:
        problem_of(client.request(method, url), 401)
    # a key bound to an organization: the collection is refused, a named export is not there
    for who in ("org", "bound_integration"):
        for method, url in calls[:2]:
            problem_of(client.request(method, url, headers=auth[who]), 403, "role")
        for method, url in calls[2:]:
            problem_of(client.request(method, url, headers=auth[who]), 404, "name")

    # names: only a time stamp; anything else is 422 naming it, an absent one 404
    outside = root.parent / "secret"
    outside.mkdir()
    (outside / "manifest.json").write_text('{"format": "yinxin-handover"}')
    os.symlink(outside, root / "20200101T000000Z")  # a link that looks like an export
    admin = auth["admin"]
    for bad in ("abc", "%2E%2E", ".%2E", "20261201T142827Z-1234", "20261201T142827", "x" * 300):
        for suffix in ("", "/archive"):
            problem_of(client.get(f"/api/v1/exports/{bad}{suffix}", headers=admin), 422, "name")
        problem_of(client.delete(f"/api/v1/exports/{bad}", headers=admin), 422, "name")
    for absent in ("20990101T000000Z", "20200101T000000Z"):
        for suffix in ("", "/archive"):
            problem_of(client.get(f"/api/v1/exports/{absent}{suffix}", headers=admin), 404, "name")
        problem_of(client.delete(f"/api/v1/exports/{absent}", headers=admin), 404, "name")
    # a path with a slash, or dots the client resolves, never reaches a named route
    for url in ("/api/v1/exports/..%2F..%2Fkeys", "/api/v1/exports/../keys/archive"):
        assert client.get(url, headers=admin).status_code == 404
    assert outside.exists() and (root / "20200101T000000Z").is_symlink()
    (root / "20200101T000000Z").unlink()
    assert dbdump.diff(before, dbdump.dump(world.p)) == []
    assert _tree(root) == files
    assert [e["name"] for e in client.get("/api/v1/exports", headers=admin).json()] == [name]


def test_changed_folder_is_not_handed_out(client, world):
    auth = _auth(world)
    admin = auth["admin"]
    made = client.post("/api/v1/exports", headers=admin).json()
    name = made["name"]
    folder = world.p.settings.home / "exports" / name
    url = f"/api/v1/exports/{name}/archive"
    assert client.get(url, headers=admin).status_code == 200
    manifest_path = folder / "manifest.json"
    manifest_raw = manifest_path.read_bytes()
    manifest = json.loads(manifest_raw)
    table = folder / manifest["tables"]["subscribers"]["file"]
    original = table.read_bytes()

    # a table file edited
    table.write_bytes(original.replace("张三".encode(), "李雷".encode()))
    body = problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    assert "tables/subscribers.jsonl" in body["detail"]
    # … and its hash restated in the manifest: the manifest is no longer the one exported
    manifest["tables"]["subscribers"]["sha256"] = hashlib.sha256(table.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    body = problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    assert "manifest" in body["detail"]
    summary = client.get(f"/api/v1/exports/{name}", headers=admin).json()
    assert summary["manifest_as_exported"] is False
    # a manifest that no longer reads: still listed (flagged, so it can be deleted), refused
    manifest_path.write_text("{not json")
    listed = client.get("/api/v1/exports", headers=admin).json()
    assert [(e["name"], e["manifest_as_exported"]) for e in listed] == [(name, False)]
    assert listed[0]["exported_at"] is None  # was "", which no date-time is
    problem_of(client.get(f"/api/v1/exports/{name}", headers=admin), 409, "name", "export_modified")
    problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    manifest_path.write_bytes(manifest_raw)
    table.write_bytes(original)
    # an unlisted file, then a missing one
    (folder / "files" / "extra").write_bytes(b"x")
    body = problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    assert "files/extra" in body["detail"]
    (folder / "files" / "extra").unlink()
    some = next((folder / "files").iterdir())
    data = some.read_bytes()
    some.unlink()
    body = problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    assert "missing" in body["detail"]
    some.write_bytes(data)
    # a file of the same size, other bytes
    some.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    problem_of(client.get(url, headers=admin), 409, "name", "export_modified")
    some.write_bytes(data)

    refused = _events(world, "export.download_refused")
    assert len(refused) == 6 and {e.subject_id for e in refused} == {name}
    # put back as it was, it is handed out again
    r = client.get(url, headers=admin)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-archive-sha256"]
    assert client.get(f"/api/v1/exports/{name}", headers=admin).json() == made


def test_archive_streams_without_holding_a_file(tmp_path):
    """The archive of a folder with a 48 MiB file is built chunk by chunk: Python never holds
    more than a few MiB at once (tracemalloc's peak), and the file comes out whole."""
    import tracemalloc

    from yinxin.handover.shelf import _entries, _zip

    folder = tmp_path / "20261201T000000Z"
    (folder / "files").mkdir(parents=True)
    big = folder / "files" / "big"
    h = hashlib.sha256()
    with big.open("wb") as f:
        for i in range(48):
            block = hashlib.sha256(str(i).encode()).digest() * (1 << 15)  # 1 MiB, not uniform
            f.write(block)
            h.update(block)
    sha = h.hexdigest()
    big.rename(folder / "files" / sha)
    manifest = {
        "format": "yinxin-handover",
        "exported_at": "2026-12-01T00:00:00.000000Z",
        "tables": {},
        "files": {sha: {"size": 48 << 20}},
        "readable": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    entries = _entries(folder, manifest)
    tracemalloc.start()
    out, size, biggest = hashlib.sha256(), 0, 0
    for chunk in _zip(folder, entries, (2026, 12, 1, 0, 0, 0)):
        out.update(chunk)
        size += len(chunk)
        biggest = max(biggest, len(chunk))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert size > 48 << 20 and biggest <= (1 << 20) + 4096
    assert peak < 8 << 20, f"peak {peak} bytes"
    # the same bytes again, and the file inside whole
    again = b"".join(_zip(folder, entries, (2026, 12, 1, 0, 0, 0)))
    assert hashlib.sha256(again).hexdigest() == out.hexdigest()
    with zipfile.ZipFile(io.BytesIO(again)) as z:
        assert hashlib.sha256(z.read(f"{folder.name}/files/{sha}")).hexdigest() == sha


def test_a_bad_name_is_listed_once_in_errors(client, world):
    """The export's name is read by the route and by its access check alike; FastAPI
    validated it in both and the refusal's ``errors`` listed the same error twice, so a client
    showing every entry said it twice (GET, the archive and DELETE alike)."""
    admin = _auth(world)["admin"]
    for method, url in (
        ("GET", "/api/v1/exports/abc"),
        ("GET", "/api/v1/exports/20261201T14282XZ/archive"),
        ("DELETE", "/api/v1/exports/abc"),
    ):
        body = problem_of(client.request(method, url, headers=admin), 422, "name")
        assert [e["field"] for e in body["errors"]] == ["name"], body


def test_a_bad_name_is_told_what_a_good_one_is_in_both_languages(client, world):
    """A name that is no time stamp was refused in pydantic's words — "String should match
    pattern '^[0-9]{8}T[0-9]{6}Z(?:-[0-9]{1,3})?$'" or "String should have at least 16
    characters" — English alone, where the API's other refusals read "中文 / English" for the
    web pages to show their half (``errors.halves``). It says now, in both, what an export's
    name is and gives one; the service refuses in the same words, and the OpenAPI document
    still states the shape (``pattern``, the lengths). Nothing is written."""
    from yinxin.errors import ValidationError, halves

    admin = _auth(world)["admin"]
    before = dbdump.dump(world.p)
    for bad, shown in [
        ("abc", "abc"),
        ("20261201T142827", "20261201T142827"),  # too short: pydantic's "at least 16"
        ("20261201T142827Z-1234", "20261201T142827Z-1234"),  # too long: "at most 20"
        ("20261201T142827Z%0A", "20261201T142827Z\n"),  # a trailing newline
        ("y" * 300, "y" * 40 + "…"),  # cut short in the answer
    ]:
        for method, suffix in (("GET", ""), ("GET", "/archive"), ("DELETE", "")):
            r = client.request(method, f"/api/v1/exports/{bad}{suffix}", headers=admin)
            body = problem_of(r, 422, "name", code="invalid")
            (error,) = body["errors"]
            assert error["field"] == "name" and body["detail"] == f"name: {error['message']}"
            assert "String should" not in body["detail"], body
            chinese, english = halves(error["message"])
            assert chinese.startswith(f"“{shown}” 不是导出的名称"), chinese
            assert "UTC 时间戳" in chinese and "20261201T142827Z" in chinese, chinese
            assert english.startswith(f"{shown!r} is not an export's name"), english
            assert "UTC time stamp, such as 20261201T142827Z" in english, english
    with pytest.raises(ValidationError) as e:
        world.p.exports.get("abc")
    chinese, english = halves(e.value.message)
    assert e.value.field == "name" and chinese.startswith("“abc” 不是导出的名称"), chinese
    assert english.startswith("'abc' is not an export's name: an export is named by"), english
    assert dbdump.dump(world.p) == before
    doc = client.get("/api/v1/openapi.json", headers=admin).json()
    (name,) = doc["paths"]["/api/v1/exports/{name}"]["get"]["parameters"]
    assert name["schema"]["pattern"].startswith("^[0-9]{8}T")
    assert (name["schema"]["minLength"], name["schema"]["maxLength"]) == (16, 20)
