"""Reads about accounts: which account an email address belongs to (by its blind index)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sales.models import Lead


def account_ids_by_email_index(*, indexes: Iterable[str]) -> dict[str, int]:
    """For each email blind index, the account of the leads with that email, when they name exactly
    one (a person known at two companies is left out: which one a message is about is not ours to
    guess). One query."""
    wanted = sorted(set(indexes) - {""})
    if not wanted:
        return {}
    found: dict[str, set[int]] = defaultdict(set)
    for index, account_id in Lead.objects.filter(email_index__in=wanted, account__isnull=False).values_list(
        "email_index", "account_id"
    ):
        found[index].add(account_id)
    return {index: next(iter(ids)) for index, ids in found.items() if len(ids) == 1}
