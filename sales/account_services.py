"""Accounts mirrored from the CRMs, and which account each lead belongs to.

``account_bulk_upsert`` writes HubSpot companies and Salesforce Accounts by their natural key
``(source, external id)``, older changes never overwriting newer ones (``source_modified_at``), and
logs a change of an account's value (an approval-policy fact) account by account.

A lead's account is what its CRM says: a HubSpot contact's primary company, a Salesforce lead's
``ConvertedAccountId`` or the ``AccountId`` of the Salesforce contact with its email.
``leads_account_link`` takes those associations by the account's CRM id, remembers the id on the
lead (``attributes["<source>_account_id"]``) and links the lead when the account is here, so an
account arriving after its contacts links them then (``account_bulk_upsert``). Every link changed
gets a decision-log entry on the lead in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Func, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from core import events
from core.bulk import update_many
from core.upsert import BatchOutcome, UpsertRow, natural_key_upsert, validate_batch
from sales.account_rows import ACCOUNT_FIELDS, WRITABLE_FIELDS, with_size_band
from sales.models import Account, Lead

#: The account fields whose changes are logged account by account (the approval policy reads it).
WATCHED = ("account_value",)
#: A lead's column holding its id in a CRM, by source (a lead may be mirrored from another source).
VENDOR_ID_COLUMNS = {"salesforce": "salesforce_id", "hubspot": "hubspot_id"}


class _Text(Func):
    """The text of a JSON key compared as plain text: ``IN`` on the key itself compares JSON values,
    which on SQLite parses each id as JSON ("001…" is not). Same SQL, so the index still serves it."""

    template = "%(expressions)s"
    output_field = TextField()


def account_ref_attribute(source: str) -> str:
    """The lead attribute holding the CRM id of the account ``source`` associates the lead with."""
    return f"{source}_account_id"


@dataclass
class LinkResult:
    """Leads whose account changed, and the email blind indexes of those now linked (their tickets
    may be linked by the requester's email)."""

    lead_ids: list[int] = field(default_factory=list)
    email_indexes: set[str] = field(default_factory=set)

    def add(self, other: LinkResult) -> None:
        self.lead_ids += other.lead_ids
        self.email_indexes |= other.email_indexes


@dataclass
class AccountUpsertOutcome(BatchOutcome):
    """A bulk upsert's outcome, and the leads linked to the accounts it wrote."""

    links: LinkResult = field(default_factory=LinkResult)


def account_bulk_upsert(*, rows: Sequence[Any], actor: str, atomic: bool = True) -> AccountUpsertOutcome:
    """Upsert accounts by ``(source, external_id)`` (fields: ``sales.account_rows.ACCOUNT_FIELDS``).

    With ``atomic`` any bad row rejects the batch; without it the good rows are written and each bad
    one reported with its field and reason (never half-written). A row older than the stored
    account's ``source_modified_at`` is ``stale`` and changes nothing. Leads already associated with
    a new account are linked to it; leads of an account whose fields changed are re-scored.
    """
    clean, errors = validate_batch(rows, ACCOUNT_FIELDS, required=("source", "external_id", "name"))
    if errors and atomic:
        return AccountUpsertOutcome(errors=errors)
    links = LinkResult()
    clean = [UpsertRow(key=row.key, values=with_size_band(row.values), index=row.index) for row in clean]
    with transaction.atomic():
        result = natural_key_upsert(
            model=Account, rows=clean, writable_fields=WRITABLE_FIELDS, watched=WATCHED
        )
        summary = result.summary
        if summary["created"] or summary["updated"]:
            entries = [
                LogEntry(
                    event_type=EventType.ACCOUNTS_UPSERTED,
                    actor=actor,
                    subject_type="account_batch",
                    input_context={"rows": len(rows), "sources": sorted({r.key[0] for r in clean})},
                    action_taken={**summary, "rejected": len(errors)},
                ),
                *(
                    LogEntry(
                        event_type=EventType.ACCOUNTS_UPSERTED,
                        actor=actor,
                        subject_type="account",
                        subject_id=result.ids[index] or "",
                        input_context={"source": clean[index].key[0], "external_id": clean[index].key[1]},
                        action_taken={
                            name: {"from": _shown(before), "to": _shown(after)}
                            for name, (before, after) in change.items()
                        },
                    )
                    for index, change in sorted(result.changes.items())
                ),
            ]
            decision_log_append_many(entries=entries)
        written = {
            row.key: pk
            for row, pk, status in zip(clean, result.ids, result.statuses, strict=True)
            if pk is not None and status in ("created", "updated")
        }
        for source in {key[0] for key in written}:
            ids = [external_id for (s, external_id) in written if s == source]
            links.add(_leads_link_waiting(source=source, account_external_ids=ids, actor=actor))
        if written:
            rescore = list(
                Lead.objects.filter(account_id__in=list(written.values())).values_list("pk", flat=True)
            )
            if rescore:
                events.publish("leads.changed", lead_ids=rescore)
    return AccountUpsertOutcome(errors=errors, result=result, links=links)


def leads_account_link(*, source: str, refs: Mapping[int, str], actor: str) -> LinkResult:
    """Apply what ``source`` says each lead's account is: ``refs`` maps a lead's id to the CRM id of
    its account, or to "" when the CRM says it has none any more (the lead is unlinked if its account
    came from ``source``). An account not here yet is remembered on the lead and linked when it
    arrives. One locked read of the leads and one of the accounts."""
    if not refs:
        return LinkResult()
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(pk__in=list(refs)).order_by("pk"))
        return _apply_refs(
            source, {lead.pk: (lead, refs[lead.pk]) for lead in leads}, actor, "crm_association"
        )


def leads_account_link_by_email(
    *, source: str, contacts: Iterable[tuple[str, str]], actor: str
) -> LinkResult:
    """Link the leads of ``source`` whose email is a CRM contact's to that contact's account:
    ``contacts`` are ``(email, account CRM id or "")`` pairs (a Salesforce contact and its
    ``AccountId``). Leads are found by the email's blind index, never by decrypting."""
    from security.crypto import blind_index

    by_index = {blind_index(email): ref for email, ref in contacts if email}
    by_index.pop("", None)
    if not by_index:
        return LinkResult()
    ours = Q(source=source)
    if source in VENDOR_ID_COLUMNS:
        ours |= Q(**{f"{VENDOR_ID_COLUMNS[source]}__isnull": False})
    with transaction.atomic():
        leads = list(
            Lead.objects.select_for_update().filter(ours, email_index__in=list(by_index)).order_by("pk")
        )
        return _apply_refs(
            source,
            {lead.pk: (lead, by_index[lead.email_index]) for lead in leads},
            actor,
            "crm_contact_email",
        )


def _leads_link_waiting(*, source: str, account_external_ids: Sequence[str], actor: str) -> LinkResult:
    """Link the leads that name one of these accounts (arrived before it) and are not linked yet."""
    key = account_ref_attribute(source)
    leads = list(
        Lead.objects.select_for_update()
        .alias(account_ref=_Text(KeyTextTransform(key, "attributes")))  # indexed (Lead.Meta.indexes)
        .filter(account_ref__in=list(account_external_ids))
        .order_by("pk")
    )
    refs = {lead.pk: (lead, str((lead.attributes or {}).get(key, ""))) for lead in leads}
    return _apply_refs(source, refs, actor, "account_arrived")


def _apply_refs(source: str, refs: Mapping[int, tuple[Lead, str]], actor: str, reason: str) -> LinkResult:
    key = account_ref_attribute(source)
    wanted = {ref for _, ref in refs.values() if ref}
    accounts = dict(
        Account.objects.filter(source=source, external_id__in=list(wanted)).values_list("external_id", "pk")
    )
    current_ids = {lead.account_id for lead, _ in refs.values() if lead.account_id is not None}
    sources: dict[int | None, str] = dict(
        Account.objects.filter(pk__in=current_ids).values_list("pk", "source")
    )
    now = timezone.now()
    changed: list[Lead] = []
    entries: list[LogEntry] = []
    result = LinkResult()
    for lead, ref in refs.values():
        attributes = dict(lead.attributes or {})
        before = lead.account_id
        if ref:
            attributes[key] = ref
            after = accounts.get(ref)
            if after is None and sources.get(before) != source:
                # An account we do not hold yet: a link made by another source (or by hand) stays
                # until it arrives; one from this CRM no longer holds.
                after = before
        else:
            attributes.pop(key, None)
            after = None if sources.get(before) == source else before
        if after == before and attributes == (lead.attributes or {}):
            continue
        lead.account_id, lead.attributes, lead.updated_at = after, attributes, now
        changed.append(lead)
        if after != before:
            result.lead_ids.append(lead.pk)
            if after is not None and lead.email_index:
                result.email_indexes.add(lead.email_index)
            entries.append(
                LogEntry(
                    event_type=EventType.ACCOUNTS_LINKED,
                    actor=actor,
                    subject_type="lead",
                    subject_id=lead.pk,
                    input_context={"source": source, "account_external_id": ref, "by": reason},
                    action_taken={"account": {"from": before, "to": after}},
                )
            )
    update_many(Lead, changed, ["account", "attributes", "updated_at"])
    decision_log_append_many(entries=entries)
    if result.lead_ids:
        events.publish("leads.changed", lead_ids=result.lead_ids)
    return result


def _shown(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
