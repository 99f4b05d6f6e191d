import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, DecisionLogEntry
from audit.services import decision_log_append

pytestmark = pytest.mark.django_db


def _entry():
    return decision_log_append(
        event_type="action.proposed",
        actor="sdr-agent",
        input_context={"email": "ada@example.com", "score": 91},
    )


def test_it_stores_personal_data_only_as_hashes():
    entry = _entry()
    entry.refresh_from_db()
    assert entry.input_context["score"] == 91
    assert entry.input_context["email"].startswith("hmac:")
    assert "ada@example.com" not in str(entry.input_context)


def test_entries_redacted_with_the_old_bare_sha256_still_verify_next_to_keyed_ones():
    from io import StringIO

    from django.core.management import call_command

    from audit.services import audit_seal_pending

    DecisionLogEntry.objects.create(
        event_type="action.proposed", actor="sdr-agent", input_context={"email": "sha256:0123456789abcdef"}
    )  # as written before the key: the chain covers what is stored, whatever the token's form
    _entry()
    audit_seal_pending()
    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "decision log intact" in out.getvalue()


def test_it_refuses_updates_and_deletes_through_the_orm():
    entry = _entry()
    entry.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        DecisionLogEntry.objects.filter(pk=entry.pk).update(actor="x")
    with pytest.raises(AppendOnlyError):
        DecisionLogEntry.objects.all().delete()
    assert DecisionLogEntry.objects.get(pk=entry.pk).actor == "sdr-agent"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_decisionlogentry SET actor = 'mallory'",
        "DELETE FROM audit_decisionlogentry",
        "TRUNCATE audit_decisionlogentry CASCADE",
    ],
)
def test_postgres_itself_rejects_raw_changes_to_the_log(sql):
    _entry()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert DecisionLogEntry.objects.filter(actor="sdr-agent").count() == 1
