"""AgentOps client: propose an agent's tool call for approval, wait for the decision, verify callbacks.

Standard library only, so any agent (LangGraph, the OpenAI Agents SDK, a plain script) can vendor or
install it without pulling in the AgentOps server.
"""

from agentops_client.client import (
    ActionResult,
    AgentOpsClient,
    AgentOpsError,
    ApprovalRejected,
    ApprovalTimeout,
    PayloadChanged,
    ProposalInvalid,
    idempotency_key_for,
    require_approval,
)
from agentops_client.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify


def verify_callback(
    *, body: bytes, timestamp: str | int, signature: str, secret: str, max_age: int = 300
) -> bool:
    """True if a callback's ``X-AgentOps-Signature`` signs exactly ``body`` at ``X-AgentOps-Timestamp``
    with the shared secret, sent no more than ``max_age`` seconds ago (or ahead, for clock skew)."""
    return verify(body=body, timestamp=timestamp, signature=signature, secret=secret, max_age=max_age)


__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ActionResult",
    "AgentOpsClient",
    "AgentOpsError",
    "ApprovalRejected",
    "ApprovalTimeout",
    "PayloadChanged",
    "ProposalInvalid",
    "idempotency_key_for",
    "require_approval",
    "sign",
    "verify",
    "verify_callback",
]
