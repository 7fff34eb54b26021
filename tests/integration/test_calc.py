"""``yinxin calc`` and ``/api/v1/calc/…``: the contract arithmetic through both adapters.

The figures themselves are checked in tests/unit (test_money, test_workdays, test_terms); here
each adapter is shown to give the same answers and the same refusals — a 422 problem naming the
field over HTTP, exit 2 and the field on the command line — and to read the operator's year
files from the platform home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.clock import real_now
from tests.integration.api_world import problem_of
from tests.integration.signing_flow import new_platform
from yinxin.adapters.http.server import create_app
from yinxin.app import Platform
from yinxin.clock import FrozenClock

# SYNTHETIC year file (no notice covers 2099): it only shows the platform reads <home>/calendars
SYNTHETIC_2099 = {
    "year": 2099,
    "source": "synthetic test data (not an official schedule)",
    "holidays": [{"name": "春节", "from": "2099-01-21", "to": "2099-01-27"}],
    "workdays": [{"name": "春节", "date": "2099-01-31"}],
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Iterator[Platform]:
    """One platform for the module (the server needs its CA; nothing here writes to it)."""
    home = tmp_path_factory.mktemp("calc") / "home"
    (home / "calendars").mkdir(parents=True)
    (home / "calendars" / "2099.json").write_text(json.dumps(SYNTHETIC_2099), encoding="utf-8")
    p = new_platform(home, FrozenClock(real_now()))
    yield p
    p.close()


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[TestClient]:
    key = platform.api_keys.create(name="calc", role="integration", actor="test").secret
    with TestClient(create_app(platform, jobs=False), base_url="http://127.0.0.1:8000") as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def get(api: TestClient, path: str, **params):
    return api.get(f"/api/v1/calc/{path}", params=params)


def test_capitals_both_ways(api: TestClient) -> None:
    r = get(api, "capitals", amount="1,740,000")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "amount": "1740000.00",
        "formatted": "¥1,740,000.00",
        "capitals": "壹佰柒拾肆万元整",
    }
    r = get(api, "amount", capitals="人民币壹拾万零柒仟元伍角叁分")
    assert r.json()["amount"] == "107000.53"
    assert r.json()["canonical"] == "壹拾万柒仟元伍角叁分"
    problem_of(get(api, "capitals", amount="0.30000000000000004"), 422, "amount", "invalid")
    problem_of(get(api, "capitals", amount="-5"), 422, "amount")
    problem_of(get(api, "capitals", amount="1000000000000.01"), 422, "amount")
    body = problem_of(get(api, "amount", capitals="壹万伍佰元整"), 422, "amount_in_capitals")
    assert "壹万零伍佰元整" in body["detail"]


def test_tax(api: TestClient) -> None:
    r = get(api, "tax", price="53400", rate="6%", includes_tax="true")
    assert r.json() | {"explanation": ""} == {
        "net": "50377.36",
        "rate": "0.06",
        "tax": "3022.64",
        "gross": "53400.00",
        "rounding": "half_up",
        "explanation": "",
    }
    assert get(api, "tax", price="0.25", rate="0.06", rounding="half_even").json()["gross"] == (
        "0.26"
    )
    problem_of(get(api, "tax", price="100", rate="6%", rounding="nearest"), 422, "rounding")
    problem_of(get(api, "tax", price="100", rate="-6%"), 422, "rate")


def test_workdays(api: TestClient) -> None:
    r = get(api, "workdays", **{"from": "2026-02-12", "days": "7"})
    assert r.status_code == 200, r.text
    span = r.json()
    assert (span["end"], span["workdays"]) == ("2026-02-28", 7)
    assert [d["date"] for d in span["days_off"]][:2] == ["2026-02-15", "2026-02-16"]
    assert "调休上班 2 天" in span["explanation"]
    for days in ("+7", " 7", "7 ", "0_7", "７", "7.0"):  # int() took all but 7.0 as 7
        problem_of(get(api, "workdays", **{"from": "2026-02-12", "days": days}), 422, "days")
    problem_of(get(api, "workdays", **{"from": "2026-02-12", "days": "-1"}), 422, "days")
    r = get(api, "workdays/between", **{"from": "2025-12-31", "to": "2026-12-31"})
    assert r.json()["workdays"] == 248
    day = get(api, "workdays/day", date="2026-10-10").json()
    assert (day["kind"], day["workday"], day["name"]) == ("makeup_workday", True, "国庆节")
    years = get(api, "workdays/years").json()
    assert {"year": 2026, "source": "chinese-calendar 1.11.0 (PyPI)"} in years
    assert years[-1]["year"] == 2099  # the operator's file in <home>/calendars


def test_workday_refusals(api: TestClient) -> None:
    body = problem_of(
        get(api, "workdays", **{"from": "2027-01-04", "days": "1"}), 422, "from", "calendar_missing"
    )
    assert "2027" in body["detail"]
    problem_of(get(api, "workdays", **{"from": "2026-03-02", "days": "-1"}), 422, "days")
    problem_of(get(api, "workdays", **{"from": "2026-03-02", "days": "x"}), 422, "days")
    problem_of(get(api, "workdays", **{"from": "2026-02-30", "days": "1"}), 422, "from")
    problem_of(
        get(api, "workdays/between", **{"from": "2026-03-02", "to": "2026-03-01"}), 422, "to"
    )
    # the synthetic 2099 of <home>/calendars counts; 2098 stays unknown
    assert get(api, "workdays", **{"from": "2099-01-20", "days": "1"}).json()["end"] == "2099-01-28"
    problem_of(get(api, "workdays/day", date="2098-06-01"), 422, "date", "calendar_missing")


def test_a_year_without_a_calendar_is_refused_naming_the_parameter_sent(api: TestClient) -> None:
    """A date or a count reaching a year with no official schedule named ``date`` (or
    ``end``) whatever the call: /calc/workdays has ``from`` and ``days``, /calc/schedule
    ``acceptance`` and ``go_live``, /calc/acceptance ``requested`` and ``reminded`` — a client
    could show the refusal at none of them. It names the parameter that reaches the year: the
    date itself when it lies there, the count (or the event it is counted from) when the count
    runs into it. 2099 is the home's synthetic year; 2098 and 2100 have none."""
    cases = [
        ("workdays", {"from": "2098-12-28", "days": "1"}, "from"),
        ("workdays", {"from": "2099-12-28", "days": "10"}, "days"),
        ("workdays/between", {"from": "2098-12-28", "to": "2099-01-10"}, "from"),
        ("workdays/between", {"from": "2099-12-25", "to": "2100-01-10"}, "to"),
        ("schedule", {"total": "1740000", "acceptance": "2099-12-20"}, "acceptance"),
        (
            "schedule",
            {"total": "1740000", "acceptance": "2099-03-02", "go_live": "2099-03-04"},
            "go_live",
        ),
        ("acceptance", {"requested": "2099-12-28"}, "requested"),
        ("acceptance", {"requested": "2098-12-28"}, "requested"),
        ("acceptance", {"requested": "2099-12-01", "reminded": "2099-12-30"}, "reminded"),
    ]
    for path, params, field in cases:
        body = problem_of(get(api, path, **params), 422, field, "calendar_missing")
        assert "calendars/2" in body["detail"], (path, params, body)


def test_penalty_schedule_acceptance(api: TestClient) -> None:
    r = get(api, "penalty", amount="100000", due="2026-03-01", as_of="2026-03-06", rate="0.5‰")
    assert r.status_code == 200, r.text
    assert r.json()["explanation"] == "逾期 5 日 × 0.5‰ × ¥100,000.00 = ¥250.00"
    assert r.json()["lines"][0]["from"] == "2026-03-02"
    r = get(
        api,
        "penalty",
        amount="435000",
        due="2026-04-16",
        as_of="2026-05-13",
        clause="002-8.1",
        cap_base="1740000",
    )
    assert (r.json()["total"], r.json()["capped"]) == ("348000.00", True)
    r = api.get(
        "/api/v1/calc/penalty",
        params=[
            ("amount", "28000"),
            ("due", "2025-12-31"),
            ("as_of", "2026-01-31"),
            ("clause", "003-10.1.2"),
            ("paid", "2026-01-10=10000"),
            ("paid", "2026-01-20=18000"),
        ],
    )
    assert r.json()["total"] == "2300.00"
    problem_of(get(api, "penalty", amount="1", due="2026-03-01", as_of="2026-03-02"), 422, "rate")
    problem_of(
        get(api, "penalty", amount="1", due="2026-03-01", as_of="2026-03-02", clause="x"),
        422,
        "clause",
    )
    problem_of(
        get(api, "penalty", amount="1", due="2026-03-01", as_of="2026-03-02", rate="3%", paid="x"),
        422,
        "paid[0]",
    )
    rows = get(api, "schedule", total="1740000", acceptance="2026-03-02").json()
    assert [(m["amount"], m["due"]) for m in rows] == [
        ("1305000.00", "2026-04-14"),
        ("435000.00", None),
    ]
    result = get(api, "acceptance", requested="2026-02-12", reminded="2026-02-26").json()
    assert result["deemed_on"] == "2026-03-03"
    problem_of(
        get(api, "acceptance", requested="2026-03-02", reminded="2026-03-01"), 422, "reminded"
    )


def test_notice_service(api: TestClient) -> None:
    r = get(api, "notice", method="express", posted_on="2026-09-30", local="true")
    assert r.status_code == 200, r.text
    assert r.json()["served_on"] == "2026-10-03" and "发出后第 3 日" in r.json()["explanation"]
    r = get(api, "notice", method="email", arrived_at="2026-10-08T16:30:00+00:00")
    assert (r.json()["served_on"], r.json()["served_at"]) == (
        "2026-10-09",
        "2026-10-09T00:30:00+08:00",
    )
    r = get(api, "notice", method="email", arrived_at="2026-10-08T16:30:00Z", formal="true")
    assert r.json()["served_on"] is None and "不视为送达" in r.json()["explanation"]
    body = problem_of(get(api, "notice", method="express", posted_on="2026-09-30"), 422, "local")
    # what to give, in Chinese and English, under the API's own names
    assert body["detail"] == (
        "特快专递的通知：请说明是否寄往本市内（本市、外地视为送达的日数不同） / a notice sent "
        "by express mail: give local, whether it went within the city (it is served sooner "
        "there)"
    )
    body = problem_of(get(api, "notice", method="in_person"), 422, "signed_on")
    assert (
        "请给出接收人签收的日期" in body["detail"] and "give signed_on, the day" in body["detail"]
    )
    problem_of(get(api, "notice", method="fax"), 422, "method")
    problem_of(
        get(api, "notice", method="email", arrived_at="2026-10-08T16:30:00"), 422, "arrived_at"
    )
    problem_of(
        get(api, "notice", method="email", signed_on="2026-10-08", arrived_at="2026-10-08T16:30Z"),
        422,
        "signed_on",
    )


def test_a_caller_must_sign_in(platform: Platform) -> None:
    with TestClient(create_app(platform, jobs=False), base_url="http://127.0.0.1:8000") as c:
        problem_of(c.get("/api/v1/calc/capitals", params={"amount": "1"}), 401)
