"""Fault injection in the sandbox MIS: the spec, and each fault through a real server, in the
Wonde-shaped API and then the Arbor-style one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox_mis.__main__ import main
from sandbox_mis.app import create_app
from sandbox_mis.arbor_testing import running_arbor
from sandbox_mis.dataset import DEMO_TOKEN, Dataset, generate
from sandbox_mis.faults import Faults, parse_faults
from sandbox_mis.testing import running_sandbox

SCHOOL = "A1000000001"
MARKS = f"/schools/{SCHOOL}/attendance/session"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.02)


@contextmanager
def sandbox(dataset: Dataset, faults: Faults | None) -> Iterator[httpx.Client]:
    with (
        running_sandbox(dataset, faults) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
        ) as client,
    ):
        yield client


def statuses(client: httpx.Client, count: int, path: str = MARKS) -> list[int]:
    return [client.get(path, params={"per_page": 5}).status_code for _ in range(count)]


def pages(client: httpx.Client, per_page: int, path: str = MARKS) -> list[dict[str, Any]]:
    """Every page body, following ``next`` verbatim."""
    bodies = []
    url: str | None = path
    params: dict[str, Any] | None = {"per_page": per_page}
    while url is not None:
        body = client.get(url, params=params).raise_for_status().json()
        bodies.append(body)
        url, params = body["meta"]["pagination"]["next"], None
    return bodies


def test_spec_from_the_readme() -> None:
    faults = parse_faults(
        "429:every=5,retry_after=1;500:every=7;slow:pages=3,seconds=2;truncate:pages=2;"
        "repeat:pages=4"
    )
    assert faults == Faults(
        rate_limit_every=5,
        retry_after=1,
        error_every=7,
        error_statuses=(500,),
        slow_pages=frozenset({3}),
        slow_seconds=2.0,
        truncate_pages=frozenset({2}),
        repeat_pages=frozenset({4}),
    )


def test_spec_storm_scope_and_always() -> None:
    faults = parse_faults(
        "429:storm=4,start=3; 5xx:every=2; truncate:pages=1+2,always=1;"
        "scope:resources=students+school"
    )
    assert (faults.storm_start, faults.storm_length, faults.retry_after) == (3, 4, 0)
    assert faults.error_statuses == (500, 502, 503)
    assert faults.truncate_pages == {1, 2} and faults.truncate_always
    assert faults.resources == {"students", "school"}
    assert parse_faults("") == Faults()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("teapot:every=1", "unknown kind 'teapot'"),
        ("429:evry=1", "unknown keys \\['evry'\\]"),
        ("slow:seconds=1", "missing key 'pages'"),
        ("500:every=x", "invalid literal"),
        ("truncate:pages=0", "page numbers start at 1"),
        ("scope:resources=pupils", "unknown resources"),
        ("repeat:pages", "expected key=value"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(spec)


def test_cli_rejects_a_bad_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--faults", "429:every=-1"])
    assert exit_info.value.code == 2
    assert "must not be negative" in capsys.readouterr().err


def test_request_numbers_decide_statuses() -> None:
    faults = Faults(rate_limit_every=5, storm_start=2, storm_length=2, error_every=3)
    assert [faults.status_for(n) for n in range(1, 11)] == [
        None, 429, 429, None, 429, 502, None, None, 503, 429,
    ]  # fmt: skip


def test_rate_limit_every_nth_request_with_retry_after(dataset: Dataset) -> None:
    with sandbox(dataset, Faults(rate_limit_every=3, retry_after=2)) as client:
        responses = [client.get(MARKS) for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 429, 200, 200, 429]
    assert responses[2].headers["Retry-After"] == "2"
    assert responses[2].json()["error"] == "rate_limited"


def test_storm_then_calm(dataset: Dataset) -> None:
    with sandbox(dataset, Faults(storm_start=2, storm_length=3)) as client:
        assert statuses(client, 6) == [200, 429, 429, 429, 200, 200]


def test_server_errors_take_turns(dataset: Dataset) -> None:
    with sandbox(dataset, Faults(error_every=2)) as client:
        assert statuses(client, 6) == [200, 500, 200, 502, 200, 503]


def test_school_is_clean_unless_in_scope(dataset: Dataset) -> None:
    school = f"/schools/{SCHOOL}"
    with sandbox(dataset, Faults(rate_limit_every=1)) as client:
        assert statuses(client, 2, school) == [200, 200]
        assert statuses(client, 1) == [429]
    with sandbox(dataset, Faults(rate_limit_every=1, resources=frozenset({"school"}))) as client:
        assert statuses(client, 1, school) == [429]
        assert statuses(client, 1) == [200]


def test_each_app_counts_its_own_requests(dataset: Dataset) -> None:
    faults = Faults(rate_limit_every=2, error_every=3)
    runs = []
    for _ in range(2):
        with sandbox(dataset, faults) as client:
            runs.append(statuses(client, 7))
    assert runs[0] == runs[1] == [200, 429, 500, 429, 200, 429, 200]


def test_repeated_page_duplicates_and_loses_nothing(dataset: Dataset) -> None:
    with sandbox(dataset, None) as client:
        clean = pages(client, 50)
    with sandbox(dataset, Faults(repeat_pages=frozenset({2}))) as client:
        repeated = pages(client, 50)
    assert len(repeated) == len(clean) + 1
    assert repeated[2]["data"] == repeated[1]["data"] == clean[1]["data"]
    assert [b["meta"]["pagination"]["current_page"] for b in repeated] == list(
        range(1, len(clean) + 2)
    )
    ids = [row["id"] for body in clean for row in body["data"]]
    assert [row["id"] for body in repeated for row in body["data"]] == (
        ids[:100] + ids[50:100] + ids[100:]
    )
    previous = repeated[3]["meta"]["pagination"]["previous"]
    assert httpx.URL(previous).params["page"] == "3"


def test_repeating_the_last_page_adds_a_page(dataset: Dataset) -> None:
    with sandbox(dataset, Faults(repeat_pages=frozenset({1}))) as client:
        bodies = pages(client, 1000, f"/schools/{SCHOOL}/students")
    assert len(bodies) == 2 and bodies[0]["data"] == bodies[1]["data"]
    assert bodies[1]["meta"]["pagination"]["more"] is False


# --- the Arbor-style API --------------------------------------------------------------------

ARBOR_RECORDS = "attendance-records"


@contextmanager
def arbor(dataset: Dataset, faults: Faults | None) -> Iterator[httpx.Client]:
    with (
        running_arbor(dataset, faults) as root,
        httpx.Client(base_url=f"{root}/{SCHOOL}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as client,
    ):
        yield client


def arbor_pages(client: httpx.Client, path: str, size: int) -> list[list[dict[str, Any]]]:
    """Every page until an empty one, as an Arbor client reads."""
    bodies = []
    for number in range(1, 1000):
        rows = (
            client.get(path, params={"page-size": size, "page-number": number})
            .raise_for_status()
            .json()
        )
        page = next(iter(rows.values()))
        if not page:
            return bodies
        bodies.append(page)
    raise AssertionError("paging never reached an empty page")


def test_arbor_errors_have_the_arbor_shape_and_retry_after(dataset: Dataset) -> None:
    with arbor(dataset, Faults(rate_limit_every=2, error_every=3, retry_after=4)) as client:
        responses = [client.get(ARBOR_RECORDS) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 500, 429]
    assert responses[1].headers["Retry-After"] == "4"
    assert responses[1].json()["response"]["code"] == 429
    assert responses[2].json()["response"]["reason"] == "Internal Server Error"
    assert responses[2].json()["response"]["errors"][0]["message"]


def test_arbor_scope_is_lists_and_changelogs(dataset: Dataset) -> None:
    with arbor(dataset, Faults(rate_limit_every=1)) as client:
        record = client.get(f"{ARBOR_RECORDS}/changelog")
        assert record.status_code == 429
        assert client.get("students").status_code == 429
        assert client.get("persons").status_code == 429
        # Single objects are never faulted.
        assert client.get("students/1").status_code == 200
    only = Faults(rate_limit_every=1, resources=frozenset({"students/changelog"}))
    with arbor(dataset, only) as client:
        assert client.get("students/changelog").status_code == 429
        assert client.get("students").status_code == 200


def test_a_scope_from_the_other_api_is_refused(dataset: Dataset) -> None:
    with (
        pytest.raises(ValueError, match=r"\['attendance/session'\] names no resource of the Arbor"),
        running_arbor(dataset, Faults(resources=frozenset({"attendance/session"}))),
    ):
        pass
    with pytest.raises(ValueError, match="names no resource of the Wonde"):
        create_app(dataset, Faults(rate_limit_every=1, resources=frozenset({ARBOR_RECORDS})))


def test_cli_refuses_a_scope_from_the_other_api() -> None:
    with pytest.raises(SystemExit, match=r"--faults: fault scope .* Arbor-style API"):
        main(["--api", "arbor", "--scale", "0.01", "--faults", "scope:resources=deletions"])


# --- faults both APIs share, through each one's paging ---------------------------------------


@dataclass(frozen=True)
class Api:
    """How a client pages one API's attendance list."""

    open: Callable[[Dataset, Faults | None], AbstractContextManager[httpx.Client]]
    path: str
    page: str
    size: str
    key: str


APIS = {
    "wonde": Api(sandbox, MARKS, "page", "per_page", "data"),
    "arbor": Api(arbor, ARBOR_RECORDS, "page-number", "page-size", "attendanceRecords"),
}


@pytest.mark.parametrize("api", APIS.values(), ids=APIS.keys())
@pytest.mark.parametrize("always", [False, True])
def test_truncated_page(dataset: Dataset, api: Api, always: bool) -> None:
    faults = Faults(truncate_pages=frozenset({2}), truncate_always=always)
    with api.open(dataset, faults) as client:
        params = {api.size: 5, api.page: 2}
        first, again = (client.get(api.path, params=params) for _ in range(2))
        assert client.get(api.path, params={api.size: 5}).json()[api.key]
    assert first.status_code == 200
    assert first.headers["x-sandbox-fault"] == "truncate"
    assert "x-sandbox-fault" not in again.headers or always
    assert int(first.headers["content-length"]) == len(first.content)
    with pytest.raises(ValueError):
        first.json()
    if always:
        with pytest.raises(ValueError):
            again.json()
    else:
        assert len(again.json()[api.key]) == 5


@pytest.mark.parametrize("api", APIS.values(), ids=APIS.keys())
def test_slow_page_first_time_only(dataset: Dataset, api: Api) -> None:
    """The header says which answers were delayed; the delay is only bounded below, since an
    upper bound on a loaded machine is a flaky test."""
    faults = Faults(slow_pages=frozenset({2}), slow_seconds=0.3)
    with api.open(dataset, faults) as client:
        answers = [client.get(api.path, params={api.page: page}) for page in (1, 2, 2)]
    assert [answer.raise_for_status().headers.get("x-sandbox-fault") for answer in answers] == [
        None,
        "slow",
        None,
    ]
    assert answers[1].elapsed.total_seconds() >= 0.3


def test_arbor_repeated_page_duplicates_and_loses_nothing(dataset: Dataset) -> None:
    with arbor(dataset, None) as client:
        clean = arbor_pages(client, "students/changelog", 3)
    with arbor(dataset, Faults(repeat_pages=frozenset({2}))) as client:
        repeated = arbor_pages(client, "students/changelog", 3)
    assert len(repeated) == len(clean) + 1
    assert repeated[2] == repeated[1] == clean[1]
    assert repeated[:2] + repeated[3:] == clean
