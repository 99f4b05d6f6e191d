"""Benchmark 2 (issue #10): the approval API on the production-shaped stack.

10,000 pending actions (proposed through ``actions_propose_many``, routed by the policy to one
approval) are decided over ``POST /api/v1/actions/<id>/approve/`` and ``…/reject/`` by concurrent
clients, each with its own API key (scope ``decide_actions``) of its own approver. Every action is
decided by one client; a share of them (10%) is also decided by the other client at about the same
moment, so two decisions race for one action: exactly one must win (200) and the other be refused
cleanly (409 ``already_decided``). Reports decisions/s and the p50/p95/p99 latency of every
request, then checks in the database one decision and one ``action.decided`` log entry per action.
Target on 2 cores: ≥ 300 decisions/s with p95 < 100 ms.

    .venv/bin/python bench/bench_approval_api.py               # full size, starts its own stack
    .venv/bin/python bench/bench_approval_api.py --smoke       # a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
from collections import Counter

from _stack import Call, percentile, ratio, send_all, stack_arguments, stack_main

TARGET_RATE = 300.0
TARGET_P95_MS = 100.0


def _seed(actions: int, clients: int) -> tuple[list[int], list[str]]:
    """The pending actions and one API key per client (not timed)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    from approvals.models import ProposedAction
    from approvals.services import NewProposal, actions_propose_many
    from security.choices import Scope
    from security.services import apikey_create

    run = secrets.token_hex(4)
    keys = []
    for n in range(clients):
        user = get_user_model().objects.create(username=f"bench-approver-{run}-{n}")
        user.user_permissions.add(Permission.objects.get(codename="change_proposedaction"))
        # A role that decides actions of every domain wherever they are routed (security.roles).
        user.groups.add(Group.objects.get_or_create(name="Ops admins")[0])
        issued = apikey_create(
            user=user, name=f"bench {run} {n}", scopes=[Scope.DECIDE_ACTIONS], rate_per_minute=10_000_000
        )
        keys.append(issued.plain)
    ids: list[int] = []
    for start in range(0, actions, 2_000):
        new, _ = actions_propose_many(
            proposals=[
                NewProposal(
                    kind="enrol_cadence",
                    domain="sales",
                    payload={"cadence": "Inbound hot", "steps": 5},
                    rationale="Hot and uncontacted.",
                    confidence=0.8,
                    risk_level="medium",
                    idempotency_key=f"bench-api-{run}-{i}",
                    proposed_by="sdr-agent",
                )
                for i in range(start, min(start + 2_000, actions))
            ]
        )
        ids.extend(sorted(new.values()))
    pending = ProposedAction.objects.filter(pk__in=ids, status="pending_approval").count()
    if pending != actions:
        raise SystemExit(f"the policy left {pending} of {actions} actions pending; the benchmark needs all")
    return ids, keys


def _calls(
    ids: list[int], keys: list[str], duplicate_share: float, seed: int
) -> tuple[list[list[Call]], int]:
    """Each client's requests, in action order, so a duplicate reaches the server close to its twin.

    An approval names the payload it approves (``payload_sha256``): the approvers read the actions
    once, here, as an approver reads the item before approving it, and send back what they read.
    """
    from approvals.models import ProposedAction
    from approvals.services import payload_sha256

    seen = {
        pk: payload_sha256(p)
        for pk, p in ProposedAction.objects.filter(pk__in=ids).values_list("pk", "payload")
    }
    rng = random.Random(seed)
    shares: list[list[tuple[int, Call]]] = [[] for _ in keys]
    duplicates = 0

    def call(i: int, action_id: int, client: int) -> tuple[int, Call]:
        headers = {"Authorization": f"Bearer {keys[client]}", "Content-Type": "application/json"}
        if rng.random() < 0.8:
            body = json.dumps({"payload_sha256": seen[action_id]}).encode()
            return i, Call("POST", f"/api/v1/actions/{action_id}/approve/", headers, body, str(action_id))
        body = json.dumps({"reason_code": "bad_timing"}).encode()
        return i, Call("POST", f"/api/v1/actions/{action_id}/reject/", headers, body, str(action_id))

    for i, action_id in enumerate(ids):
        owner = i % len(keys)
        shares[owner].append(call(i, action_id, owner))
        if len(keys) > 1 and rng.random() < duplicate_share:
            shares[(owner + 1) % len(keys)].append(call(i, action_id, (owner + 1) % len(keys)))
            duplicates += 1
    return [[c for _, c in sorted(share, key=lambda pair: pair[0])] for share in shares], duplicates


def _verify(ids: list[int]) -> dict[str, bool]:
    from django.db.models import Count

    from approvals.models import Decision, ProposedAction
    from audit.models import DecisionLogEntry

    statuses = Counter(ProposedAction.objects.filter(pk__in=ids).values_list("status", flat=True))
    decisions = Counter(
        dict(
            Decision.objects.filter(action_id__in=ids)
            .values("action_id")
            .annotate(n=Count("id"))
            .values_list("action_id", "n")
        )
    )
    entries = Counter(
        DecisionLogEntry.objects.filter(
            event_type="action.decided", subject_type="proposed_action", subject_id__in=[str(i) for i in ids]
        ).values_list("subject_id", flat=True)
    )
    return {
        "every action approved or rejected": set(statuses) <= {"approved", "rejected"}
        and sum(statuses.values()) == len(ids),
        "exactly one decision per action": len(decisions) == len(ids) and set(decisions.values()) == {1},
        "one decision-log entry per decision": len(entries) == len(ids) and set(entries.values()) == {1},
    }


def run(args: argparse.Namespace, port: int) -> bool:
    actions = 120 if args.smoke and args.actions is None else args.actions or 10_000
    print(f"[approval-api] proposing {actions:,} actions (not timed)", flush=True)
    ids, keys = _seed(actions, args.clients)
    shares, duplicates = _calls(ids, keys, args.duplicates, seed=7)
    answers, first, last = send_all(port, shares, threads=args.threads)
    wall = last - first
    codes = Counter(a.status for a in answers)
    refused = [a for a in answers if a.status == 409]
    odd = next((a for a in answers if a.status not in (200, 409)), None)
    if odd is not None:
        print(f"[approval-api] e.g. HTTP {odd.status}: {odd.body[:200]!r}")
    clean_refusals = all(json.loads(a.body).get("code") == "already_decided" for a in refused)
    latencies = [a.seconds * 1000 for a in answers]
    rate = codes[200] / wall if wall else 0.0
    p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    checks = {
        "one 200 per action": codes[200] == len(ids),
        "every duplicate refused with 409 already_decided": codes[409] == duplicates and clean_refusals,
        "no other answer": set(codes) <= {200, 409},
        **_verify(ids),
    }
    ok = all(checks.values())
    print(
        f"[approval-api] {len(ids):,} actions, {duplicates:,} decided twice at once; "
        f"{len(shares)} client processes × {args.threads} threads; answers {dict(sorted(codes.items()))}"
    )
    print(
        f"[approval-api] {rate:,.0f} decisions/s ({ratio(rate, TARGET_RATE)}); latency p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms ({ratio(p95, TARGET_P95_MS, lower_is_better=True)}), p99 {p99:.1f} ms, "
        f"mean {statistics.fmean(latencies):.1f} ms"
    )
    for label, holds in checks.items():
        print(f"[approval-api]   {'ok ' if holds else 'FAILED'} {label}")
    summary = {"decisions_per_s": round(rate, 1), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "ok": ok}
    print("RESULT approval-api " + json.dumps(summary), flush=True)
    return ok


def main() -> None:
    parser = stack_arguments(__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, help="pending actions to decide (10,000; 120 with --smoke)")
    parser.add_argument("--clients", type=int, default=2, help="client processes, one API key each")
    parser.add_argument("--threads", type=int, default=4, help="requests in flight per client")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share decided by two clients")
    stack_main(slug="approval_api", args=parser.parse_args(), run=run)


if __name__ == "__main__":
    main()
