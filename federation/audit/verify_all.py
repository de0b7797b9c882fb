"""`crossforce audit verify` over a whole federation: every ledger, every flow, both ends.

Checks, each named in the report with how much it covered:

keys        each ledger is checked with the key the OTHER side pinned (sources.py); a
            different key in the ledger's own folder is a finding
chains      every entry's hash, signature and place in its chain (federation/ledger.py)
heads       every ledger against the signed heads of it the other side keeps: a ledger
            cut short at its end is caught (federation/checkpoint.py)
flows       every node disclosure matched with a coordinator collection by payload hash,
            every coordinator hits disclosure with the node's collection, both ways
withdrawals every withdrawal a force signed has the coordinator's erasure and the
            force's record of the acknowledgement, and vice versa
holdings    every payload the coordinator holds traced to its ledger (and the sender's);
            no content row of an erased or unknown payload
retention   nothing held past its retention, at the coordinator or a node
withdrawn   nothing of a withdrawal left in any table

Any other ledger found (a key service's, say) has its chain checked with the key in its
own folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

from federation.audit.findings import AuditReport, Finding
from federation.audit.holdings import (
    coordinator_retention,
    held_payloads,
    node_retention,
    withdrawn,
)
from federation.audit.sources import KEYS, TRUSTED_COORDINATOR_KEY, Ledgered, open_ledgers
from federation.checkpoint import check_anchors, read_anchors
from federation.keys import fingerprint, load_public_key
from federation.ledger import GENESIS, match_flows, verify_entries

Progress = Callable[[str], None]


def verify_federation(nodes: Sequence[Path], coordinator: Path | None,
                      others: Sequence[Path] = (), *, as_of: dt.datetime | None = None,
                      progress: Progress | None = None) -> AuditReport:
    """Run every check over the folders given; see the module docstring."""
    say = progress or (lambda _: None)
    when = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report = AuditReport()
    with open_ledgers(nodes, coordinator, others) as ledgers:
        coord = next((x for x in ledgers if x.role == "coordinator"), None)
        forces = [x for x in ledgers if x.role == "node"]
        say("keys and chains")
        for item in ledgers:
            report.add("keys", 1, _keys(item, forces))
            report.add("chains", len(item.entries), _chain(item))
            report.ledgers.append(_summary(item))
        if coord is not None:
            say("ledger heads, flows and withdrawals")
            for node in forces:
                report.add("heads", 2, _heads(node, coord))
                side = f"{node.owner} ↔ coordinator"
                report.add("flows", _flow_count(node),
                           [Finding.of(side, p) for p in match_flows(node.entries,
                                                                     coord.entries)])
                report.add("withdrawals", *_withdrawals(node, coord))
            say("what the coordinator holds")
            report.add("holdings", *held_payloads(coord, forces))
            report.add("retention", *coordinator_retention(coord, when))
            report.add("withdrawn", *withdrawn(coord))
        for node in forces:
            report.add("retention", *node_retention(node, when))
    return report


def _summary(item: Ledgered) -> dict[str, object]:
    actions: dict[str, int] = {}
    for e in item.entries:
        actions[e.action] = actions.get(e.action, 0) + 1
    return {"owner": item.owner, "role": item.role, "db": str(item.db),
            "entries": len(item.entries),
            "head": item.entries[-1].entry_hash if item.entries else GENESIS,
            "key": item.fingerprint, "key_source": item.key_source, "actions": actions}


def _keys(item: Ledgered, forces: Sequence[Ledgered]) -> list[Finding]:
    if item.key is None:
        return [Finding(item.owner, "key", f"no public key to check {item.db} against "
                        "(none registered, none in its folder)")]
    found = []
    if item.own_key is not None and item.own_key != item.key:
        found.append(Finding(item.owner, "key", f"the public key in its own folder "
                             f"({fingerprint(item.own_key)}) is not the one "
                             f"{item.key_source} ({item.fingerprint})"))
    if item.role == "coordinator":
        for node in forces:
            path = node.folder / KEYS / TRUSTED_COORDINATOR_KEY
            if path.exists() and load_public_key(path) != item.key:
                found.append(Finding(node.owner, "key", f"trusts coordinator key "
                                     f"{fingerprint(load_public_key(path))}, not "
                                     f"{item.fingerprint}"))
    return found


def _chain(item: Ledgered) -> list[Finding]:
    if item.key is None:
        return []
    return [Finding.of(item.owner, p) for p in verify_entries(item.entries, item.key).problems]


def _heads(node: Ledgered, coord: Ledgered) -> list[Finding]:
    found = []
    if node.key is not None:
        found += [Finding.of(node.owner, p) for p in check_anchors(
            node.owner, node.entries, read_anchors(coord.con, node.owner), node.key,
            "the coordinator")]
    if coord.key is not None:
        found += [Finding.of("coordinator", p) for p in check_anchors(
            "coordinator", coord.entries, read_anchors(node.con, "coordinator"), coord.key,
            node.owner)]
    return found


def _flow_count(node: Ledgered) -> int:
    return sum(1 for e in node.entries if e.payload_hash and e.action in
               ("disclosure", "collection"))


def _withdrawals(node: Ledgered, coord: Ledgered) -> tuple[int, list[Finding]]:
    """Request (node erasure to the coordinator) ↔ erasure (coordinator) ↔ acknowledgement
    (node collection), all under the withdrawal's hash."""
    side = f"{node.owner} ↔ coordinator"
    asked = {e.payload_hash: e for e in node.entries if e.action == "erasure"
             and e.payload_hash and "coordinator" in e.recipients}
    acked = {e.payload_hash for e in node.entries if e.action == "collection"
             and e.payload_hash in asked}
    erased = {e.payload_hash: e for e in coord.entries if e.action == "erasure"
              and e.payload_hash and e.force == node.owner}
    found = []
    for h, e in asked.items():
        if h not in erased:
            found.append(Finding(side, "unmatched", f"{node.owner} asked the coordinator to "
                                 f"erase (withdrawal {h[:16]}…) but the coordinator's ledger "
                                 "has no erasure for it", e.seq, e.entry_id))
        elif h not in acked:
            found.append(Finding(side, "unmatched", f"the coordinator erased withdrawal "
                                 f"{h[:16]}… but {node.owner} never recorded its "
                                 "acknowledgement", e.seq, e.entry_id))
    for h, e in erased.items():
        if h not in asked:
            found.append(Finding(side, "unmatched", f"coordinator logged an erasure for "
                                 f"withdrawal {h[:16]}… of {node.owner}, which "
                                 f"{node.owner}'s ledger never asked for", e.seq, e.entry_id))
    return len(asked) + len(erased), found


#: where `audit verify --record` keeps its last result, inside the coordinator folder
RECORD = Path("audit") / "verified.json"


def record_verification(report: AuditReport, coordinator: Path, nodes: Sequence[Path]
                        ) -> Path:
    """Keep the result of a whole-federation check beside the coordinator's store (what
    the national console's auditor page shows): when, over which ledgers, each check's
    count and the findings — never content. Written whole or not at all."""
    import json

    path = Path(coordinator) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"verified_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(
                timespec="seconds") + "Z",
            "nodes": [Path(n).name for n in nodes], **report.as_dict()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path


def recorded_verification(coordinator: Path) -> dict | None:
    """The last result `audit verify --record` kept for this coordinator, if any."""
    import json

    path = Path(coordinator) / RECORD
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
