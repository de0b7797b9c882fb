"""What `crossforce keyservice status` shows: epochs, holders, counts, volume alerts.

A volume alert names a force whose evaluations today exceed ``SPIKE`` times its average
day over the previous ``WINDOW_DAYS`` days (or, with no history, half its quota): an
enumeration attempt shows up as a spike long before it could cover a number range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from federation.keyservice import store as ks
from federation.keyservice.suite import fingerprint

SPIKE = 3.0
WINDOW_DAYS = 30


def service_status(directory: Path) -> dict[str, Any]:
    service = ks.KeyServiceDir(directory)
    today = ks.now().date()
    with service.open() as con:
        epochs = [{**e, "fingerprint": fingerprint(bytes.fromhex(str(e["public_key"])))}
                  for e in ks.epochs(con)]
        holders = [
            {"holder": h, "role": r, "daily_quota": q, "registered_at": str(at),
             "used_today": ks.used_today(con, h, today)}
            for h, r, q, at in con.execute(
                "SELECT holder, role, daily_quota, registered_at FROM credentials "
                "WHERE revoked_at IS NULL ORDER BY holder").fetchall()]
        usage = [dict(zip(("day", "holder", "purpose", "epoch", "requests", "evaluations",
                           "refused_requests", "refused_evaluations"), (str(r[0]), *r[1:]),
                          strict=True))
                 for r in con.execute("SELECT * FROM usage ORDER BY day, holder, purpose, "
                                      "epoch").fetchall()]
        history = dict(con.execute(f"""
            SELECT holder, sum(evaluations) / {WINDOW_DAYS} FROM usage
            WHERE day < ? AND day >= ? - INTERVAL {WINDOW_DAYS} DAY GROUP BY holder""",
                                   [today, today]).fetchall())
        entries = con.execute("SELECT count(*) FROM ledger").fetchone()[0]
    alerts = []
    for h in holders:
        usual = float(history.get(h["holder"]) or 0)
        limit = SPIKE * usual if usual else h["daily_quota"] / 2
        if h["role"] == "force" and h["used_today"] > limit:
            basis = "3x its usual day" if usual else "half its quota"
            alerts.append(f"{h['holder']} asked for {h['used_today']:,} evaluations today, "
                          f"over {limit:,.0f} ({basis})")
    refused = {u["holder"] for u in usage if u["day"] == str(today) and u["refused_requests"]}
    alerts += [f"{h} had requests refused today (quota, epoch or batch limit)"
               for h in sorted(refused)]
    return {"epochs": epochs, "holders": holders, "usage": usage, "alerts": alerts,
            "ledger_entries": int(entries), "store": str(service.store_path),
            "keys": str(service.dir / ks.KEYS_DIR)}
