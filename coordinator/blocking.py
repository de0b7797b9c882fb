"""Blocking: candidate person pairs are the references that share at least one match-key token.

All in DuckDB SQL over integer node ids — never all-pairs. Only tokens held more than
once are kept past the first pass: most are held once, and their share of the chance
agreement rate follows from per-key totals. Frequencies count people, not references: a
force may hold one person several times, so references sharing a fingerprint (their
name+birth-date token) count once. Tokens held by more people than `max_token_frequency`
(a busy household postcode, a common name) — or by more references than
`max_token_references`, whoever they are — are too weak to block on, and are treated as
missing for the references that hold them, so they neither create pairs nor count as
disagreement. Pairs inside one force are candidates unless `cross_force_only`.
Term-frequency bits are summed in fixed point, so a run's sums do not depend on the
order threads add them in.

Scale (#12): every step is one pass over the tokens or over the repeated ones, on
fixed-width keys. A 16-byte ref or token is read once, as its exact 128-bit integer
(`blob::BIT::UHUGEINT`, big-endian, so integer order is byte order), and never joined or
carried as a BLOB; only tokens held more than once (`lk_rep`) reach the later joins;
pairs are grouped once, by pair, and the rare pair sharing two tokens of one key
(aliases) is re-summed exactly. Same tables, byte for byte, as joining on the BLOBs.

Temp tables left on the connection (read by scoring and clustering):
    lk_nodes(node, force_id, force, ref, kind)     every item, numbered
    lk_person_ids(node, token_kind, token)         identifier tokens recorded against a
                                                   person (its own or linked items)
    lk_kinds(kind_id, token_kind)                  match-key kinds (bits of the masks), with
                                                   `mk:id_<kind>` for those identifiers when
                                                   `identifier_keys` (compared like a key)
    lk_freq(kind_id, h, freq)                      tokens held more than once (by 64-bit hash)
    lk_held(kind_id, force_id, n)                  tokens of each key each force holds
    lk_kind_freq(kind_id, total, ubar)             ubar = P(two random references agree)
    lk_fp(node, fp)                                fingerprint of references sharing one
    lk_dup(kind_id, h, dups)                       repeats inside fingerprint groups
    lk_people(kind_id, h, freq, people)            tokens too common to block on
    lk_shared(node, force_id, kind_id, h, t, tf)   tokens that block (t: the token as
                                                   UHUGEINT; tf fixed point)
    lk_force_shared(node, force_id, kind_id, h)    rows of lk_shared whose token another
                                                   reference of the same force holds
    lk_person(node, has_mask)                      which usable match keys each person holds
    lk_pairs(node_a, node_b, agree_mask, has_a, has_b, agreeing_keys, tf_bits, id_shared,
             force_a, force_b)
"""

from __future__ import annotations

import duckdb

from coordinator.settings import ID_PREFIX, MATCH_KEY_PREFIX, LinkageSettings
from coordinator.token_groups import (
    fingerprint_repeats,
    fingerprints,
    group_tokens,
    memory_limit,
    person_keys,
    read_match_keys,
)

MAX_MATCH_KEYS = 62  # kinds are bits of a BIGINT mask
TF_SCALE = 1 << 20  # term-frequency bits in fixed point (exact, order-free sums)


def number_nodes(con: duckdb.DuckDBPyConnection) -> int:
    """Give every item a dense integer id so joins and graphs run on integers, not BLOBs."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_forces AS
        SELECT force, (row_number() OVER (ORDER BY force) - 1)::INTEGER AS force_id
        FROM (SELECT DISTINCT force FROM items)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_nodes AS
        -- force ids follow force names, so this is (force, ref) order, sorted on integers
        -- (refs are 16 bytes, checked first; as big-endian UHUGEINT they sort as bytes do)
        SELECT (row_number() OVER (ORDER BY f.force_id, i.ref::BIT::UHUGEINT) - 1)::INTEGER
                   AS node,
               f.force_id, i.force, i.ref, i.kind
        FROM items i JOIN lk_forces f USING (force)""")
    return con.execute("SELECT count(*) FROM lk_nodes").fetchone()[0]


def block_persons(con: duckdb.DuckDBPyConnection, settings: LinkageSettings) -> int:
    """Build `lk_pairs`, the candidate person pairs; returns how many."""
    cap = settings.max_token_frequency
    _person_identifiers(con, settings)
    # identifiers recorded against persons are compared like a key (`identifier_keys`):
    # `mk:id_email` holds the person's email tokens
    ids = (f"""UNION SELECT DISTINCT '{MATCH_KEY_PREFIX}{ID_PREFIX}' || token_kind
               FROM lk_person_ids""" if settings.identifier_keys else "")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_kinds AS
        SELECT (row_number() OVER (ORDER BY token_kind) - 1)::INTEGER AS kind_id, token_kind
        FROM (SELECT DISTINCT token_kind FROM tokens
              WHERE starts_with(token_kind, '{MATCH_KEY_PREFIX}') {ids})""")
    n_kinds = con.execute("SELECT count(*) FROM lk_kinds").fetchone()[0]
    if n_kinds > MAX_MATCH_KEYS:
        from federation.errors import CrossforceError
        raise CrossforceError(f"{n_kinds} match-key kinds; linkage supports at most "
                              f"{MAX_MATCH_KEYS}")
    # Every person's match-key tokens, grouped by sorting in numpy (`token_groups`):
    # only repeated tokens are kept (`lk_freq`, `lk_rep`) — most are held once and can
    # neither block nor collide, and their share of ubar follows from the totals
    # (`lk_held`, tokens each force holds per key).
    hard = max(settings.max_token_references, cap)
    limit = memory_limit(con)  # lowered while the token arrays live (`read_match_keys`)
    try:
        _token_tables(con, settings, n_kinds, cap, hard)
    finally:
        con.execute(f"SET memory_limit = '{limit}'")
    # people per reference of each key, so a token's share of people is on the scale of
    # ubar (which counts references): tf stays 0 on average, and a person's own repeats
    # of a token no longer make it look common
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_kind_people AS
        SELECT kf.kind_id, (kf.total - coalesce(sum(d.dups), 0)) / kf.total AS per_ref
        FROM lk_kind_freq kf LEFT JOIN lk_dup d USING (kind_id)
        GROUP BY kf.kind_id, kf.total""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_shared AS
        SELECT r.node, r.force_id, r.kind_id, r.h, r.t,
               -- term-frequency adjustment: log2(ubar_k / share of this token), in
               -- fixed point so sums are exact whatever order threads add them in
               round(log2(kf.ubar * kf.total * kp.per_ref
                          / (r.freq - coalesce(d.dups, 0))::BIGINT) * {TF_SCALE})::BIGINT
                   AS tf
        FROM lk_rep r LEFT JOIN lk_dup d USING (kind_id, h)
        JOIN lk_kind_freq kf USING (kind_id) JOIN lk_kind_people kp USING (kind_id)
        WHERE r.freq <= {hard} AND r.freq - coalesce(d.dups, 0) <= {cap}""")
    # the rows of lk_shared whose token another reference of the same force holds too:
    # all that scoring's chance agreement (pairs inside a force) reads, a few of them
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_force_shared AS
        SELECT r.node, r.force_id, r.kind_id, r.h
        FROM (FROM lk_rep WHERE in_force) r LEFT JOIN lk_dup d USING (kind_id, h)
        WHERE r.freq <= {hard} AND r.freq - coalesce(d.dups, 0) <= {cap}""")
    con.execute("DROP TABLE lk_rep")
    agree_pairs(con, settings.cross_force_only)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_pairs AS
        SELECT g.node_a, g.node_b, g.agree_mask,
               pa.has_mask AS has_a, pb.has_mask AS has_b,
               bit_count(g.agree_mask)::INTEGER AS agreeing_keys,
               g.tf_fixed / {TF_SCALE} AS tf_bits, 0::INTEGER AS id_shared,
               g.force_a, g.force_b
        FROM lk_agree g JOIN lk_person pa ON pa.node = g.node_a
                        JOIN lk_person pb ON pb.node = g.node_b""")
    con.execute("DROP TABLE lk_agree")
    _count_shared_identifiers(con, settings)
    return con.execute("SELECT count(*) FROM lk_pairs").fetchone()[0]



def _token_tables(con: duckdb.DuckDBPyConnection, settings: LinkageSettings, n_kinds: int,
                  cap: int, hard: int) -> None:
    """lk_freq, lk_held, lk_kind_freq, lk_fp, lk_dup, lk_rep, lk_people and lk_person, from
    the token arrays (`token_groups`), which go when this returns."""
    rows = read_match_keys(con, settings, n_kinds)
    group_tokens(con, rows)
    # ubar_k: chance two random references agree on key k (sum of squared value shares);
    # a token held once adds 1 to the sum of squares.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE lk_kind_freq AS
        SELECT kind_id, h.total,
               (h.total - coalesce(r.repeated, 0) + coalesce(r.squares, 0))
                   / (h.total * h.total) AS ubar
        FROM (SELECT kind_id, sum(n) AS total FROM lk_held GROUP BY kind_id) h
        LEFT JOIN (SELECT kind_id, sum(freq)::DOUBLE AS repeated,
                          sum(freq::DOUBLE * freq) AS squares
                   FROM lk_freq GROUP BY kind_id) r USING (kind_id)""")
    # A reference's fingerprint: its token of the most specific name+birth-date key.
    # References sharing one are (almost always) one person that a force recorded twice,
    # so token frequencies and chance agreements count fingerprints, not references: a
    # prolific offender's own repeated name is not "common", and his duplicates are not
    # chance collisions.
    fingerprints(con, rows, _fingerprint_kind(con))
    # Tokens worth blocking on: held by at most `cap` people and `hard` references.
    # people holding a repeated token = references - the repeats inside fingerprint
    # groups (`lk_dup`, only tokens with such repeats); only references whose fingerprint
    # another reference shares can repeat
    fingerprint_repeats(con, rows)
    # lk_people: the tokens too common to block on (more than `cap` people or `hard`
    # references); a token held `cap` times or fewer never is
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_people AS
        SELECT f.kind_id, f.h, f.freq, (f.freq - coalesce(d.dups, 0))::BIGINT AS people
        FROM (SELECT * FROM lk_freq WHERE freq > {cap}) f LEFT JOIN lk_dup d USING (kind_id, h)
        WHERE f.freq > {hard} OR f.freq - coalesce(d.dups, 0) > {cap}""")
    # Which usable keys (not over the cap) each person holds: "compared but not agreeing";
    # the last use of the token arrays, so they go before the tables below are built
    person_keys(con, rows)


def agree_pairs(con: duckdb.DuckDBPyConnection, cross_force_only: bool) -> None:
    """`lk_agree(node_a, node_b, agree_mask, tf_fixed)`: pairs sharing a token, grouped once.

    A key may carry several tokens (aliases) and counts its best one once: the plain sum
    is right wherever each key agrees on one token (rows = bits of the mask); the few
    pairs with more rows are summed again, best token per key.
    """
    force_rule = "AND a.force_id <> b.force_id" if cross_force_only else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_agree AS
        SELECT a.node AS node_a, b.node AS node_b,
               bit_or((1::BIGINT) << a.kind_id) AS agree_mask,
               sum(a.tf)::BIGINT AS tf_fixed, count(*) AS n_tokens,
               -- the pair's forces (one per node), so scoring and clustering need not
               -- join lk_nodes for them
               any_value(a.force_id) AS force_a, any_value(b.force_id) AS force_b
        FROM lk_shared a JOIN lk_shared b
          ON a.kind_id = b.kind_id AND a.t = b.t AND a.node < b.node {force_rule}
        GROUP BY a.node, b.node""")
    if not con.execute("SELECT count(*) FROM lk_agree WHERE n_tokens > bit_count(agree_mask)"
                       ).fetchall()[0][0]:
        return
    con.execute("""
        UPDATE lk_agree SET tf_fixed = x.tf_fixed FROM (
            SELECT node_a, node_b, sum(tf)::BIGINT AS tf_fixed FROM (
                SELECT d.node_a, d.node_b, a.kind_id, max(a.tf) AS tf
                FROM (SELECT node_a, node_b FROM lk_agree
                      WHERE n_tokens > bit_count(agree_mask)) d
                JOIN lk_shared a ON a.node = d.node_a
                JOIN lk_shared b ON b.node = d.node_b AND b.kind_id = a.kind_id AND b.t = a.t
                GROUP BY ALL)
            GROUP BY ALL) x
        WHERE lk_agree.node_a = x.node_a AND lk_agree.node_b = x.node_b""")


def _fingerprint_kind(con: duckdb.DuckDBPyConnection) -> int | None:
    """The fingerprint key: the rarest key (smallest ubar) that holds both names (or the
    name pair) and the full birth date; None if no such key was shared (then every
    reference is its own person)."""
    from coordinator.comparison import key_fields

    kinds = con.execute("""SELECT k.kind_id, k.token_kind FROM lk_kinds k
                           JOIN lk_kind_freq f USING (kind_id) ORDER BY f.ubar, k.kind_id"""
                        ).fetchall()
    return next((kid for kid, kind in kinds
                 if "dob" in (f := key_fields(kind)) and ("nm" in f or {"fn", "sn"} <= f)),
                None)


def _person_identifiers(con: duckdb.DuckDBPyConnection, settings: LinkageSettings) -> None:
    """`lk_person_ids(node, token_kind, token)`: the identifier tokens of each person.

    A person's identifier tokens are tokens of identifier kinds on the person's own ref, or
    on identifier items joined to it by a `person_identifier` link (when a links table exists).
    """
    kinds = ", ".join(f"'{k}'" for k in settings.identifier_kinds)
    sources = [f"""
        SELECT n.node, t.token_kind, t.token FROM tokens t
        JOIN lk_nodes n ON n.force = t.force AND n.ref = t.ref AND n.kind = 'person'
        WHERE t.token_kind IN ({kinds})"""]
    has_links = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'links' "
        "AND column_name IN ('ref_a', 'ref_b', 'kind') AND table_schema = current_schema()"
    ).fetchone()[0] == 3
    if has_links and con.execute("SELECT count(*) FROM information_schema.columns "
                                 "WHERE table_name = 'links' AND column_name = 'force'"
                                 ).fetchone()[0]:
        sources.append(f"""
            SELECT p.node, t.token_kind, t.token FROM links l
            JOIN lk_nodes p ON p.force = l.force AND p.ref = l.ref_a AND p.kind = 'person'
            JOIN tokens t ON t.force = l.force AND t.ref = l.ref_b
            WHERE l.kind = 'person_identifier' AND t.token_kind IN ({kinds})""")
    con.execute("CREATE OR REPLACE TEMP TABLE lk_person_ids AS "
                + " UNION ".join(sources))


def _count_shared_identifiers(con: duckdb.DuckDBPyConnection, settings: LinkageSettings) -> None:
    """Supporting evidence: identifier tokens recorded against both persons of a pair
    (`lk_person_ids`), unless identifiers are compared as keys (`identifier_keys`)."""
    if settings.identifier_keys or not con.execute(
            "SELECT count(*) FROM lk_person_ids").fetchone()[0]:
        return
    con.execute("""
        UPDATE lk_pairs SET id_shared = s.n FROM (
            SELECT p.node_a, p.node_b, count(DISTINCT (a.token_kind, a.token))::INTEGER AS n
            FROM lk_pairs p
            JOIN lk_person_ids a ON a.node = p.node_a
            JOIN lk_person_ids b ON b.node = p.node_b
                 AND a.token_kind = b.token_kind AND a.token = b.token
            GROUP BY ALL) s
        WHERE lk_pairs.node_a = s.node_a AND lk_pairs.node_b = s.node_b""")
