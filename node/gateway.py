"""The node's side of the Flower gateway: a ``NodeService`` over one node folder.

The relay the coordinator ships is untrusted (DESIGN.md §10); it can only ask this service
for a share set (which goes through egress and the policy gate, exactly like ``node share
--out``), for its gated aggregate counts on the national layout (the same build and gate,
for a SecAgg+ secure sum: already safe for the coordinator to see before they are masked),
or hand it hits. Each call opens the node store for that one operation and closes
it (DESIGN.md §12). A refusal reason goes back to the coordinator verbatim, so it names the
rule that refused, never data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from federation.errors import CrossforceError
from federation.flower.protocol import Refusal
from federation.keys import NodeKeys
from federation.keyservice.client import KeyServiceRefused
from federation.keyservice.oprf import InvalidProof
from node.egress import (
    AggregatesRefused,
    check_aggregates,
    egress,
    node_policy,
    release_aggregates,
)
from node.hits import BadHits, receive_hits
from node.prf_tokens import token_source
from node.store import load_config, open_store
from policies.gate import PolicyViolation
from policies.model import SharePolicy
from policies.national_tables import NationalLayout
from policies.privacy_budget import BudgetExceeded


class NodeGateway:
    """``share(purpose, epoch) -> bytes``, ``aggregates(purpose, epoch, layout) -> dict``
    and ``receive_hits(data) -> dict`` for one node."""

    def __init__(self, node_dir: Path, *,
                 policy: str | SharePolicy | Sequence[str | SharePolicy] | None = None,
                 encrypt_to: bytes | None = None, wait_s: float | None = None,
                 coordinator_key: bytes | None = None, tokens: str | None = None) -> None:
        self.node_dir = Path(node_dir)
        self.config = load_config(self.node_dir)
        #: the policies this force shares under, one per purpose (default: the node's own)
        self.policies: tuple[str | SharePolicy | None, ...] = (
            (policy,) if policy is None or isinstance(policy, (str, SharePolicy))
            else tuple(policy)) or (None,)
        self.encrypt_to = encrypt_to
        self.wait_s = wait_s
        #: the coordinator's signing key hits must verify under (default: the node's
        #: keys/coordinator.json, read per call)
        self.coordinator_key = coordinator_key
        #: 'keyservice', 'secret' (legacy) or None: the key service if the node holds a
        #: credential (node/prf_tokens.py)
        self.tokens = tokens

    def share(self, purpose: str, epoch: int) -> bytes:
        """The signed payload for ``purpose`` at ``epoch`` (0 = the node's current epoch)."""
        policy = self._policy_for(purpose)
        keys = NodeKeys.load(self.config.keys_dir)
        try:
            token_source(self.config, keys, self.tokens)
        except CrossforceError:
            raise Refusal("this node holds no key service credential (and no legacy "
                          "linkage secret), so it cannot make tokens") from None
        try:
            result = egress(self.node_dir, policy=policy, purpose=purpose,
                            epoch=epoch or None, encrypt_to=self.encrypt_to,
                            wait_s=self.wait_s, tokens=self.tokens)
        except PolicyViolation as exc:
            raise Refusal(f"the policy gate refused the share set "
                          f"({len(exc.violations)} violations)") from None
        except BudgetExceeded:
            raise Refusal("the privacy budget for this purpose is spent") from None
        except (KeyServiceRefused, InvalidProof) as exc:
            raise Refusal(str(exc).splitlines()[0]) from None
        except CrossforceError as exc:
            if "epoch" not in str(exc):
                raise
            raise Refusal(str(exc).splitlines()[0]) from None
        assert result.payload is not None
        return result.payload

    def _policy_for(self, purpose: str) -> SharePolicy:
        """The force's policy for ``purpose``; refused if it shares under no such purpose."""
        for name in self.policies:
            policy, _source = node_policy(self.node_dir, name)
            if policy.purpose.code == purpose:
                return policy
        raise Refusal(f"purpose {purpose} is not in this force's sharing policy")

    def aggregates(self, purpose: str, epoch: int, layout: NationalLayout, *,
                   check: bool = False) -> dict[str, Any]:
        """This force's gated aggregates on the national layout, for the relay to mask
        into a secure sum: ``{"counts": [...], "outside_layout": n}``. With ``check`` only
        whether it would give them (``{"cells": n}`` or ``Refusal``): nothing is built."""
        if check:
            try:
                check_aggregates(self.node_dir, layout, policy=self._policy_for(purpose),
                                 purpose=purpose)
            except AggregatesRefused as exc:
                raise Refusal(str(exc)) from None
            return {"cells": layout.size}
        try:
            release = release_aggregates(self.node_dir, layout,
                                         policy=self._policy_for(purpose),
                                         purpose=purpose, epoch=epoch, wait_s=self.wait_s)
        except AggregatesRefused as exc:
            raise Refusal(str(exc)) from None
        except PolicyViolation as exc:
            raise Refusal(f"the policy gate refused the aggregates "
                          f"({len(exc.violations)} violations)") from None
        except BudgetExceeded:
            raise Refusal("the privacy budget for this purpose is spent") from None
        return release.as_json()

    def receive_hits(self, data: bytes) -> dict[str, Any]:
        """Check the coordinator's signature, resolve the hits to local records; the
        receipt carries counts only. Unsigned or forged hits are refused, nothing
        recorded."""
        try:
            with open_store(self.node_dir, self.wait_s) as (config, con):
                return receive_hits(con, config, data, source="gateway",
                                    coordinator_key=self.coordinator_key).receipt()
        except BadHits as exc:
            raise Refusal(_reason(exc)) from None


def _reason(exc: CrossforceError) -> str:
    """The first line of an error, without the source name (it may be a local path)."""
    text = str(exc).splitlines()[0]
    return text.split(": ", 1)[1] if ": " in text else text
