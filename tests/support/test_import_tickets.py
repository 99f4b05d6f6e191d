import json
from io import StringIO

import pytest
from django.core.management import call_command

from support.models import Ticket

pytestmark = pytest.mark.django_db


def test_it_loads_the_real_banking77_file_once(fixtures_dir):
    path = fixtures_dir / "banking77" / "train.csv"
    out = StringIO()
    call_command("import_tickets", "--format", "banking77", str(path), "--no-progress", stdout=out)
    assert "created 10003, updated 0, unchanged 0, stale 0, rejected 0" in out.getvalue()
    categories = set(json.loads((fixtures_dir / "banking77" / "categories.json").read_text()))
    assert set(Ticket.objects.values_list("intent_label", flat=True).distinct()) == categories
    first = Ticket.objects.get(external_id="b77-00001")
    assert (first.body, first.intent_label) == ("I am still waiting on my card?", "card_arrival")

    out = StringIO()
    call_command("import_tickets", "--format", "banking77", str(path), "--no-progress", stdout=out)
    assert "created 0, updated 0, unchanged 10003" in out.getvalue()
    assert Ticket.objects.count() == 10003


def test_it_rejects_a_blank_query_with_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,category\nWhere is my card?,card_arrival\n"  ",card_arrival\n')
    out = StringIO()
    call_command("import_tickets", "--format", "banking77", str(path), "--no-progress", stdout=out)
    assert "created 1" in out.getvalue()
    assert "line 3: body: is required and may not be blank" in out.getvalue()
