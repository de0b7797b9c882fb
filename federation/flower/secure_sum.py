"""The national secure sum: the coordinator learns the sum over forces of their gated
aggregate counts, never one force's counts (Flower SecAgg+, DESIGN.md §1.4, §10).

Each node's gateway first passes its counts through its own policy gate (dimensions,
suppression, rounding, optional DP) and maps them onto the fixed national layout
(``policies.national_tables``); the relay hands that vector to ``secaggplus_mod``, which
masks it with pairwise and private masks. The coordinator adds the masked vectors and
removes the masks with the key shares of the nodes still there, so what it reconstructs is
only the total.

Flower 1.41 runs SecAgg+ only through its legacy workflow: ``SecAggPlusWorkflow`` with a
``LegacyContext`` and a ``FedAvg``-shaped strategy, over ``train`` messages, and it returns
the **mean** of the vectors. Counts are integers in ``[0, MAX_CELL_COUNT]``; with
``clipping_range = MAX_CELL_COUNT``, ``quantization_range = 2 × clipping_range`` and weight
1 per node the quantisation is exact, so mean × contributors is the exact integer sum
while contributors × 2 × MAX_CELL_COUNT < 2**32.

Dropouts: first one ``query.aggregates`` round trip asks which forces would contribute
(purpose, dimensions; nothing is released), and the sum runs among those. SecAgg+ with a
strict-majority threshold then tolerates a minority that refuse, fail or time out
mid-protocol; their pairwise masks are removed with the others' shares and they count for
nothing. With too few left, the protocol halts and nothing is learnt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.common import FitIns, FitRes, Parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.common.secure_aggregation.secaggplus_constants import Key as SecAggKey
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp import Grid

from federation.flower.clientapp import AGGREGATES_CHECK, SumQuery
from federation.flower.protocol import QUERY_RECORD, exchange, refusal_of
from policies.national_tables import MAX_CELL_COUNT, MAX_FORCES, NationalLayout

MODULUS = 1 << 32


class SecureSumFailed(Exception):
    """No national sum: too few nodes, or too many dropped for SecAgg+ to unmask.
    ``dropped`` says which nodes dropped out and why."""

    def __init__(self, reason: str, dropped: dict[int, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dropped = dict(dropped or {})


@dataclass(frozen=True)
class SecureSum:
    """The national counts on ``layout`` (one int per cell, in ``layout.cells`` order) and
    who made them: ``contributors`` nodes; ``dropped`` maps the others to why."""

    layout: NationalLayout
    counts: np.ndarray
    contributors: int
    contributor_ids: tuple[int, ...]
    dropped: dict[int, str] = field(default_factory=dict)
    #: cells the contributors hold that the layout has no place for (a national total)
    outside_layout: int = 0
    seconds: float = 0.0

    def cells(self) -> list[tuple[str, str]]:
        """(table, cell JSON) per count — what ``record_secure_sum`` takes as ``cells``."""
        cells = self.layout.cells
        return list(zip(cells.column("name").to_pylist(), cells.column("cell").to_pylist(),
                        strict=True))

    def as_json(self) -> dict[str, Any]:
        return {"tables": list(self.layout.tables), "years": list(self.layout.years),
                "cells": self.layout.size, "counts": self.counts.tolist(),
                "contributors": self.contributors,
                "dropped": {str(k): v for k, v in self.dropped.items()},
                "outside_layout": self.outside_layout, "seconds": self.seconds}


def secure_sum(grid: Grid, context: Context | None, node_ids: Iterable[int],
               layout: NationalLayout, timeout: float | None = 60.0, *, purpose: str,
               epoch: int = 0, preflight: bool = True) -> SecureSum:
    """Run one SecAgg+ sum of the nodes' gated aggregates on ``layout`` over ``grid``.

    ``purpose`` must be each force's policy purpose (a force with another refuses and drops
    out); ``epoch`` 0 means each node's current one. ``timeout`` bounds each of the
    protocol's four round trips (seconds; None waits for every node). ``context`` is the
    ServerApp's (None: a fresh one for the grid's run); its state is not touched. With
    ``preflight`` one ``query.aggregates`` round trip first asks which nodes would
    contribute, so the ones that refuse (another purpose, dimensions their policy does not
    allow) do not count against SecAgg+'s dropout threshold. Raises ``SecureSumFailed``
    when there is no sum to give.
    """
    t0 = time.perf_counter()
    query = SumQuery(purpose, epoch, layout.tables, layout.years, layout.size,
                     MAX_CELL_COUNT)
    asked = sorted(set(node_ids))
    nodes, refused = (_willing(grid, asked, query, timeout) if preflight
                      else (asked, {}))
    if len(nodes) < 2:
        raise SecureSumFailed(f"a secure sum needs at least 2 contributing nodes, got "
                              f"{len(nodes)} of {len(asked)}", refused)
    if len(nodes) > MAX_FORCES:
        raise SecureSumFailed(f"a secure sum of counts up to {MAX_CELL_COUNT:,} is exact for "
                              f"at most {MAX_FORCES} nodes, got {len(nodes)}")
    strategy = _SumStrategy([GridClientProxy(n, grid, grid.run.run_id) for n in nodes],
                            query)
    base = context or Context(run_id=grid.run.run_id, node_id=0, node_config={},
                              state=RecordDict(), run_config={})
    legacy = LegacyContext(Context(run_id=base.run_id, node_id=base.node_id,
                                   node_config=dict(base.node_config), state=RecordDict(),
                                   run_config=dict(base.run_config)), strategy=strategy)
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: 1, WorkflowKey.START_TIME: time.time()})
    legacy.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord()
    watched = _Watched(grid)
    _workflow(len(nodes), timeout)(watched, legacy)  # type: ignore[arg-type]
    dropped = refused | {n: watched.problems.get(n, "dropped out of the secure sum")
                         for n in nodes if n not in strategy.contributors}
    if strategy.mean is None:
        raise SecureSumFailed(f"secure sum halted: {len(dropped)} of {len(asked)} nodes "
                              "dropped out, too few left to unmask the sum", dropped)
    n = len(strategy.contributors)
    total = strategy.mean * n
    exact = np.rint(total)
    if total.shape != (layout.size + 1,) or np.abs(total - exact).max(initial=0) > 1e-6 \
            or exact.min(initial=0) < 0:
        raise SecureSumFailed("the unmasked sum is not a vector of whole counts on the "
                              "layout (a node sent a malformed vector)", dropped)
    counts = exact.astype(np.int64)
    return SecureSum(layout, counts[:-1], n, tuple(sorted(strategy.contributors)), dropped,
                     int(counts[-1]), time.perf_counter() - t0)


def _willing(grid: Grid, nodes: list[int], query: SumQuery,
             timeout: float | None) -> tuple[list[int], dict[int, str]]:
    """The nodes that say they will contribute, and why each other one will not."""

    messages = [Message(RecordDict({QUERY_RECORD: ConfigRecord(query.config())}),
                        dst_node_id=n, message_type=AGGREGATES_CHECK,
                        ttl=(timeout or 3600.0) + 60) for n in nodes]
    replies = exchange(grid, messages, timeout if timeout is not None else 3600.0, poll=0.1)
    willing, refused = [], {}
    for node in nodes:
        reply = replies.get(node)
        if reply is None:
            refused[node] = f"no answer in {timeout:g} s (check)" if timeout else "no answer"
        elif reply.has_error():
            refused[node] = f"{_error_text(reply)} (check)"
        elif (reason := refusal_of(reply.content)) is not None:
            refused[node] = f"refused: {reason}"
        else:
            willing.append(node)
    return willing, refused


def _workflow(nodes: int, timeout: float | None) -> SecAggPlusWorkflow:
    """Every node shares its keys with all others; a strict majority can unmask."""
    if nodes >= 3:
        shares: int | float = nodes
        threshold: int | float = nodes // 2 + 1
    else:  # two nodes: both must stay (Flower takes 1.0 as "all of them")
        shares, threshold = 1.0, 1.0
    return SecAggPlusWorkflow(shares, threshold, max_weight=1.0,
                              clipping_range=float(MAX_CELL_COUNT),
                              quantization_range=2 * MAX_CELL_COUNT, modulus_range=MODULUS,
                              timeout=timeout)


class _SumStrategy(FedAvg):
    """The legacy strategy SecAggPlusWorkflow drives: asks exactly the given nodes, and
    keeps the unmasked mean and who contributed instead of updating a model."""

    def __init__(self, proxies: list[GridClientProxy], query: SumQuery) -> None:
        super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=2,
                         min_available_clients=2, accept_failures=True,
                         initial_parameters=Parameters(tensors=[], tensor_type=""))
        self.proxies = proxies
        self.query = query
        self.mean: np.ndarray | None = None
        self.contributors: set[int] = set()

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        ins = FitIns(parameters, self.query.config())
        return [(proxy, ins) for proxy in self.proxies]

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Any]]:
        self.contributors = {int(proxy.node_id) for proxy, _ in results}  # type: ignore[attr-defined]
        if results:
            (mean,) = parameters_to_ndarrays(results[0][1].parameters)
            self.mean = np.asarray(mean, dtype=np.float64)
        return None, {}


class _Watched:
    """The grid as the workflow sees it: fast exchanges, noting why each node dropped out
    (its first problem: an error, or no answer in time, with the protocol stage)."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.problems: dict[int, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grid, name)

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        stages = {m.metadata.dst_node_id: str(
            m.content.config_records[RECORD_KEY_CONFIGS][SecAggKey.STAGE]) for m in messages}
        # push + pull with a short sleep: the SuperLink grid's send_and_receive polls
        # every 3 s, and SecAgg+ makes four round trips

        replies = list(exchange(self.grid, messages,
                                timeout if timeout is not None else 3600.0, poll=0.1).values())
        answered = {r.metadata.src_node_id for r in replies}
        for node, stage in stages.items():
            if node not in answered:
                self.problems.setdefault(node, f"no answer in {timeout:g} s ({stage})"
                                         if timeout else f"no answer ({stage})")
        for reply in replies:
            if reply.has_error():
                node = reply.metadata.src_node_id
                self.problems.setdefault(node, f"{_error_text(reply)} ({stages.get(node)})")
        return replies


def _error_text(reply: Message) -> str:
    """The last line of the node's error, kept short (a refusal reason names a rule)."""
    lines = str(reply.error.reason or "").strip().splitlines()
    text = lines[-1] if lines else f"error code {reply.error.code}"
    marker = "SecureSumRefused'>:<'"
    if marker in text:  # the relay's refusal: keep just the gateway's reason
        text = "refused: " + text.split(marker, 1)[1].rstrip(">'")
    return text[:300]


__all__ = ["SecureSum", "SecureSumFailed", "secure_sum"]
