"""A request the service fails to answer (500) is still a consultation entry, written before
the 500 leaves, and the 500 says nothing but its request id.

The fault is real: the store the service holds lost its `links` table (as a damaged or
half-restored store would), so an entity's links cannot be read — the query raises inside
DuckDB; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.store import open_store
from tests.coordinator.coordinator_payloads import (  # noqa: F401  (fixture)
    KYLE,
    LANCS,
    federation_template,
)
from tests.coordinator.served_api import Api, add_user, serving
from tests.coordinator.two_networks import build


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
           ) -> tuple[Path, int]:
    """A linked store whose `links` table is gone; Kyle's entity id."""
    two = build(federation_template, tmp_path_factory.mktemp("fail") / "fed")
    with open_store(two.dir) as store:
        store.con.execute("DROP TABLE links")
    return two.dir, two.entity(LANCS, KYLE)


def test_a_failed_request_is_a_consultation_entry_and_its_500_has_no_trace(
        broken: tuple[Path, int]) -> None:
    directory, kyle = broken
    keys = {"ana": add_user(directory, "ana", "analyst"),
            "aud": add_user(directory, "aud", "auditor")}
    with serving(directory) as url:
        ana = Api(url, keys["ana"], justification="Op Kestrel: who Kyle is tied to")
        assert ana.get(f"/v1/entities/{kyle}/forces").status_code == 200  # no links needed
        reply = ana.get(f"/v1/entities/{kyle}")
        assert reply.status_code == 500
        error = reply.json()["error"]
        assert set(reply.json()) == {"error"}
        assert (error["status"], error["code"]) == (500, "internal")
        rid = error["request_id"]
        assert len(rid) == 12 and reply.headers["x-request-id"] == rid
        # no stack trace, no exception, no table or SQL in the answer
        for leak in ("Traceback", 'File "', "Catalog", "links", "SELECT", "duckdb"):
            assert leak not in reply.text
        assert reply.headers["x-content-type-options"] == "nosniff"  # the usual headers

        aud = Api(url, keys["aud"])
        items = aud.get("/v1/consultations", user="ana", limit=5).json()["items"]
        failed = [c for c in items if c["request_id"] == rid]
        assert len(failed) == 1, items
        (entry,) = failed
        assert (entry["status"], entry["outcome"], entry["results"]) == (500, "error", 0)
        assert (entry["endpoint"], entry["purpose"]) == (f"GET /v1/entities/{kyle}",
                                                         "op-test")
        assert entry["justification"] == "Op Kestrel: who Kyle is tied to"
        answered = [c for c in items if c["endpoint"] == f"GET /v1/entities/{kyle}/forces"]
        assert [c["outcome"] for c in answered] == ["answered"]
        # and the raw ledger entry holds no detail of the failure either
        ledger = aud.get("/v1/ledger", action="consultation", limit=10).json()["items"]
        (raw,) = [e for e in ledger if f"r={rid}" in e["justification"]]
        assert raw["counts"] == {"status": 500, "results": 0}
        assert "Catalog" not in raw["justification"] and "links" not in raw["justification"]
        assert aud.get("/v1/ledger/verify").json()["ok"]


def test_a_body_over_the_limit_is_refused_and_is_a_consultation_entry_too(
        broken: tuple[Path, int]) -> None:
    """Refused before the service reads it all (413) — and still on the ledger, named
    to its caller, before the 413 leaves."""
    directory, _ = broken
    keys = {"lan": add_user(directory, "lan", f"liaison:{LANCS}"),
            "aud": add_user(directory, "aud2", "auditor")}
    with serving(directory) as url:
        lan = Api(url, keys["lan"], justification="is this phone known elsewhere?")
        reply = lan.client.post("/v1/lookups", content=b"x" * 5_000_000, headers={
            "content-type": "application/json"})
        assert reply.status_code == 413
        error = reply.json()["error"]
        assert (error["status"], error["code"]) == (413, "too_large")
        items = Api(url, keys["aud"]).get("/v1/consultations", user="lan",
                                          limit=5).json()["items"]
        (entry,) = [c for c in items if c["request_id"] == error["request_id"]]
        assert (entry["status"], entry["outcome"], entry["results"]) == (413, "refused", 0)
        assert entry["endpoint"] == "POST /v1/lookups"
