"""Scoring: Fellegi–Sunter match weights for candidate pairs, learnt from the tokens themselves.

The two likelihoods are modelled where each is true:
- same person (m): fields go wrong independently (a typo, a missing postcode), so agreeing
  keys are turned back into per-field comparison levels (`comparison`) and m is one
  probability per level;
- different people (u): chance agreements happen key by key — two strangers who share a
  first name and birthday agree on the one key `fn+dob`, not on "fn" and "dob" as two
  independent events — so u is one probability per key, P(a random pair shares that key).
Counting a chance key agreement once is what keeps look-alikes apart; scoring fields on
the match side is what keeps a pair with one typo (which breaks every key holding that
field) together.
Keys overlap on the chance side too: ``fn_ny+sn_ny`` agrees whenever ``fn+sn`` does. By
default every agreeing key's u still counts (`count_implied_keys`); off, a coarser copy of
an agreement already counted adds nothing (`comparison.independent_keys`), so namesakes
whose dates of birth wholly disagree stay apart — see the setting for what that costs.
Each pair also gets that strict weight (`strict_weight`), which pairs inside one force
and the clustering veto are judged on.

u comes from the tokens themselves: the share of pairs of different people INSIDE each
force that share the key. A force may hold one person several times, so pairs of one
person are left out: on the first pass those sharing a fingerprint (name+birth-date
token), on the second those the first pass put in one entity (`_key_u`). Pairs across
forces are not used — every missed true match would count as chance there. m and the
match share are estimated by EM over the distinct agreement patterns (a few thousand
rows, numpy) plus one all-disagree pattern standing for every pair blocking never formed.
Rare tokens count for more than common ones (term-frequency bits from blocking), and
identifier tokens recorded against both persons add support. The per-pair work stays in
DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from coordinator.comparison import (
    COMPARISONS,
    Comparison,
    chance_bits,
    field_levels,
    independent_keys,
    mask_bits,
    repeated_field_bits,
)
from coordinator.settings import LinkageSettings

_EPS = 1e-9
_PSEUDO_PAIRS = 5.0


@dataclass(frozen=True)
class MatchWeights:
    """What EM learnt: m per comparison level, u per match key, the match share."""

    comparisons: tuple[Comparison, ...]
    m: tuple[np.ndarray, ...]
    kinds: tuple[str, ...]
    u: np.ndarray
    prior: float
    iterations: int

    def as_rows(self) -> list[dict[str, float | str]]:
        """One row per comparison level (m, bits = log2 m) and per key (u, bits = -log2 u)."""
        rows: list[dict[str, float | str]] = [
            {"what": f"{c.name}:{label}", "m": float(m[i]), "bits": float(np.log2(m[i]))}
            for c, m in zip(self.comparisons, self.m, strict=True)
            for i, label in enumerate(c.labels)]
        rows += [{"what": kind, "u": float(u), "bits": float(-np.log2(u))}
                 for kind, u in zip(self.kinds, self.u, strict=True)]
        return rows


def _kinds(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT token_kind FROM lk_kinds ORDER BY kind_id").fetchall()]


def _comparable_pairs(con: duckdb.DuckDBPyConnection) -> float:
    """How many person pairs across forces linkage would compare without blocking. EM
    learns from pairs across forces only: pairs inside a force link on their own, strict
    test (`within_force_weight`), and counting them here would lower the learnt match
    share for the pairs across forces it is for."""
    sizes = con.execute("""SELECT count(*) AS n FROM lk_nodes WHERE kind = 'person'
                           GROUP BY force_id""").fetchnumpy()["n"].astype(np.float64)
    return float(sizes.sum() ** 2 / 2 - (sizes ** 2).sum() / 2)


def _key_u(con: duckdb.DuckDBPyConnection, group: str = "fp") -> np.ndarray:
    """u per key: the share of pairs of DIFFERENT people inside one force that share it.

    Pairs inside a force are a clean sample of different people once a person's own
    duplicate records are left out: on the first pass, pairs of references with one
    fingerprint (`lk_fp`: the same name+birth-date token); on later passes, pairs in one
    entity of the pass before (`lk_entity`). Pairs across forces are not used: every true
    match the linkage misses would count as chance there. Collisions exist only among
    shared tokens held twice in one force (`lk_force_shared`); pair totals come from
    per-(force, key-mask) counts. Half a collision is added so a key nobody shared by
    chance still has a finite weight; the token-frequency share if no force holds the key
    twice.
    """
    n_kinds = con.execute("SELECT count(*) FROM lk_kinds").fetchone()[0]
    # members of groups with two or more members in one force (only they make pairs of
    # one person inside a force; everyone else is a person of their own there)
    members = ("SELECT node, fp AS g FROM lk_fp" if group == "fp" else
               "SELECT node, entity_id::UBIGINT AS g FROM lk_entity")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_groups AS
        SELECT x.node, x.g FROM ({members}) x JOIN lk_nodes n USING (node)
        QUALIFY count(*) OVER (PARTITION BY x.g, n.force_id) > 1""")
    g = "lk_groups"
    col = con.execute("""
        WITH every AS (
            SELECT kind_id, sum(n * (n - 1) / 2) AS c FROM (
                SELECT kind_id, h, force_id, count(*)::DOUBLE AS n FROM lk_force_shared
                GROUP BY ALL)
            GROUP BY kind_id),
        same AS (
            SELECT kind_id, sum(n * (n - 1) / 2) AS c FROM (
                SELECT s.kind_id, s.h, s.force_id, x.g, count(*)::DOUBLE AS n
                FROM lk_force_shared s JOIN lk_groups x USING (node) GROUP BY ALL)
            GROUP BY kind_id)
        SELECT kind_id, e.c - coalesce(s.c, 0) AS c FROM every e LEFT JOIN same s USING (kind_id)
        ORDER BY kind_id""").fetchnumpy()
    collisions = np.zeros(n_kinds)
    collisions[col["kind_id"].astype(np.int64)] = col["c"]
    held = con.execute("""
        SELECT n.force_id, p.has_mask, count(*) AS n FROM lk_person p
        JOIN lk_nodes n USING (node) GROUP BY ALL ORDER BY ALL""").fetchnumpy()
    n_f = np.zeros((int(held["force_id"].max(initial=0)) + 1, n_kinds))
    np.add.at(n_f, held["force_id"].astype(np.int64),
              mask_bits(held["has_mask"].astype(np.int64), n_kinds) * held["n"][:, None])
    pairs = (n_f * (n_f - 1) / 2).sum(0)
    # pairs inside one group (one person) and one force are not chance pairs
    same = con.execute(f"""
        WITH m AS (
            SELECT x.g, n.force_id, p.has_mask, count(*)::DOUBLE AS n FROM {g} x
            JOIN lk_person p USING (node) JOIN lk_nodes n USING (node)
            GROUP BY ALL),
        k AS (
            SELECT m.g, m.force_id, b.k, sum(m.n) AS n
            FROM m, (SELECT unnest(range({n_kinds})) AS k) b
            WHERE (m.has_mask >> b.k) & 1 = 1 GROUP BY ALL)
        SELECT k, sum(n * (n - 1) / 2) AS pairs FROM k GROUP BY k ORDER BY k""").fetchnumpy()
    same_pairs = np.zeros(n_kinds)
    same_pairs[same["k"].astype(np.int64)] = same["pairs"]
    pairs = np.maximum(pairs - same_pairs, 0.0)
    ubar = con.execute("""SELECT coalesce(f.ubar, 0) AS ubar FROM lk_kinds k
                          LEFT JOIN lk_kind_freq f USING (kind_id) ORDER BY k.kind_id"""
                       ).fetchnumpy()["ubar"].astype(np.float64)
    u = (collisions + 0.5) / np.maximum(pairs, 1.0)
    return np.clip(np.where(pairs >= 1, u, ubar), _EPS, 0.5)


def _chance_keys(settings: LinkageSettings, kinds: list[str] | tuple[str, ...],
                 agree_mask: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(every agreeing key, the agreeing keys whose u counts): all of them, or only those
    no other agreeing key implies."""
    every = mask_bits(agree_mask.astype(np.int64), len(kinds))
    if settings.count_implied_keys:
        return every, every
    masks, back = np.unique(agree_mask, return_inverse=True)
    return every, independent_keys(kinds, masks, u)[back.reshape(-1)]


def _chance_log_u(settings: LinkageSettings, kinds: list[str] | tuple[str, ...],
                  agree_mask: np.ndarray, u: np.ndarray, agree: np.ndarray) -> np.ndarray:
    """log u (natural) of each pattern's chance agreements, as the settings count them."""
    if settings.count_implied_keys or settings.chance == "per_key":
        repeated = repeated_field_bits(kinds, agree, u, settings.chance_once)
        return agree @ np.log(u) + repeated * np.log(2.0)
    masks, back = np.unique(agree_mask, return_inverse=True)
    return -chance_bits(kinds, masks, u)[back.reshape(-1)] * np.log(2.0)


def _log_m(onehot: list[np.ndarray], m: list[np.ndarray]) -> np.ndarray:
    return sum((oh @ np.log(mc) for oh, mc in zip(onehot, m, strict=True)),
               start=np.zeros(len(onehot[0])))


def estimate_weights(con: duckdb.DuckDBPyConnection, settings: LinkageSettings,
                     comparisons: tuple[Comparison, ...] = COMPARISONS, *,
                     entities: bool = False) -> MatchWeights:
    """EM over the agreement patterns of `lk_pairs` and the pairs never formed; u from
    pairs of different fingerprints, or (`entities`) of different entities of `lk_entity`."""
    kinds = _kinds(con)
    # sorted, so numpy adds the same numbers in the same order on every run
    pat = con.execute("""SELECT p.agree_mask, p.has_a, p.has_b, count(*) AS n FROM lk_pairs p
                         WHERE p.force_a <> p.force_b
                         GROUP BY ALL ORDER BY ALL""").fetchnumpy()
    gamma = field_levels(kinds, pat["agree_mask"], pat["has_a"], pat["has_b"], comparisons,
                         disagreement=settings.disagreement)
    u = _key_u(con, "entity" if entities else "fp")
    agree = _chance_keys(settings, kinds, pat["agree_mask"], u)[1].astype(np.float64)
    log_u = _chance_log_u(settings, kinds, pat["agree_mask"], u, agree)
    count = pat["n"].astype(np.float64)
    others = max(_comparable_pairs(con) - count.sum(), 0.0)
    if others:  # every pair blocking did not form: agrees on no key, every field "else"
        gamma = np.vstack([gamma, [[len(c.labels) - 1 for c in comparisons]]]).astype(np.int8)
        log_u = np.r_[log_u, 0.0]
        count = np.r_[count, others]
    sizes = [len(c.labels) for c in comparisons]
    onehot = [np.stack([gamma[:, ci] == lv for lv in range(n)], axis=1).astype(np.float64)
              for ci, n in enumerate(sizes)]
    m_start = [np.r_[0.9, np.full(n - 1, 0.1 / (n - 1))] for n in sizes]
    m = list(m_start)
    prior = settings.prior_match_rate or 1e-4
    it = 0
    for it in range(1, settings.em_iterations + 1):  # noqa: B007 — `it` is reported
        logit = (np.log(prior) - np.log1p(-prior) + _log_m(onehot, m) - log_u)
        r = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        rm = count * r
        # a few pseudo-pairs at the starting m, so a level no true pair showed (yet) is
        # unlikely, not impossible (-30 bits would veto any pair that shows it)
        m_new = [np.clip((rm @ oh + _PSEUDO_PAIRS * m0) / ((rm @ oh).sum() + _PSEUDO_PAIRS),
                         _EPS, 1) for oh, m0 in zip(onehot, m_start, strict=True)]
        total = count.sum()
        prior_new = settings.prior_match_rate or (
            float(np.clip(rm.sum() / total, _EPS, 1 - _EPS)) if total else prior)
        delta = max(max(np.abs(a - b).max() for a, b in zip(m_new, m, strict=True)),
                    abs(prior_new - prior))
        m, prior = m_new, prior_new
        if delta < settings.em_tolerance:
            break
    return MatchWeights(comparisons, tuple(m), tuple(kinds), u, prior, it)


def score_pairs(con: duckdb.DuckDBPyConnection, settings: LinkageSettings,
                weights: MatchWeights) -> None:
    """`lk_scored`: every candidate pair with match_weight and strict_weight (bits; strict
    = each chance agreement counted once) and match_probability (from match_weight).
    Patterns are read sorted, so weights are the same numbers on every run."""
    pat = con.execute("SELECT DISTINCT agree_mask, has_a, has_b FROM lk_pairs ORDER BY ALL"
                      ).fetchnumpy()
    gamma = field_levels(weights.kinds, pat["agree_mask"], pat["has_a"], pat["has_b"],
                         weights.comparisons, disagreement=settings.disagreement)
    every, agree = _chance_keys(settings, weights.kinds, pat["agree_mask"], weights.u)
    bits = np.full(len(gamma), np.log2(weights.prior / (1 - weights.prior)))
    for ci, mc in enumerate(weights.m):
        g = gamma[:, ci]
        bits += np.where(g >= 0, np.log2(mc)[np.maximum(g, 0)], 0.0)
    # the strict weight counts each chance agreement once whatever `count_implied_keys`
    # says (`strict_chance`): pairs inside one force and the veto are judged on it, so
    # namesakes whose birth dates disagree are neither joined in a force nor chained
    masks, back = np.unique(pat["agree_mask"], return_inverse=True)  # it needs only the mask
    back = back.reshape(-1)
    once = independent_keys(weights.kinds, masks, weights.u)[back]
    strict = bits - (once @ np.log2(weights.u) if settings.strict_chance == "per_key"
                     else -chance_bits(weights.kinds, masks, weights.u)[back])
    # the match weight's chance side exactly as EM counted it
    bits -= _chance_log_u(settings, weights.kinds, pat["agree_mask"], weights.u,
                          agree) / np.log(2.0)
    # term-frequency bits are summed over every agreeing key in blocking; keep the share
    # that belongs to the keys counted here (an implied key's token is as common as the
    # key implying it, so its correction is dropped with its u)
    n_agree = np.maximum(every.sum(1), 1)
    con.register("lk_pattern_weights", pa.table({
        "agree_mask": pat["agree_mask"], "has_a": pat["has_a"], "has_b": pat["has_b"],
        "bits": bits, "tf_share": agree.sum(1) / n_agree,
        "strict": strict, "tf_once": once.sum(1) / n_agree}))
    tf = "p.tf_bits * w.tf_share" if settings.term_frequency else "0"
    tf_once = "p.tf_bits * w.tf_once" if settings.term_frequency else "0"
    ids = f"least(p.id_shared, 2) * {settings.identifier_support_bits}"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE lk_scored AS
        SELECT *, 1.0 / (1.0 + pow(2.0, -match_weight)) AS match_probability FROM (
            SELECT p.node_a, p.node_b, p.agreeing_keys, p.id_shared, p.force_a, p.force_b,
                   w.bits + {tf} + {ids} AS match_weight,
                   w.strict + {tf_once} + {ids} AS strict_weight
            FROM lk_pairs p JOIN lk_pattern_weights w USING (agree_mask, has_a, has_b))""")
    con.unregister("lk_pattern_weights")
