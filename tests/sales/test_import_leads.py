import csv
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import DecisionLogEntry
from sales.models import Lead

pytestmark = pytest.mark.django_db


def _import(path):
    out = StringIO()
    call_command("import_leads", "--format", "bank-marketing", str(path), "--no-progress", stdout=out)
    return out.getvalue()


def test_it_loads_every_row_of_the_real_file_and_changes_nothing_the_second_time(fixtures_dir):
    path = fixtures_dir / "bank-marketing" / "bank-additional-train.csv"
    with path.open() as handle:
        yes = sum(1 for row in csv.DictReader(handle, delimiter=";") if row["y"] == "yes")

    first = _import(path)
    assert "created 32950, updated 0, unchanged 0, stale 0, rejected 0 (of 32950 rows)" in first
    assert Lead.objects.filter(source="bank-marketing").count() == 32950
    assert Lead.objects.filter(source="bank-marketing", outcome="converted").count() == yes
    lead = Lead.objects.get(source="bank-marketing", external_id="bm-00001")
    assert lead.attributes["age"] == 56 and lead.attributes["emp_var_rate"] == 1.1
    assert lead.attributes["contact_period"] == "2008-05"
    logged = DecisionLogEntry.objects.count()
    updated_at = Lead.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()

    second = _import(path)
    assert "created 0, updated 0, unchanged 32950" in second
    assert Lead.objects.count() == 32950
    assert DecisionLogEntry.objects.count() == logged
    assert Lead.objects.order_by("-updated_at").values_list("updated_at", flat=True).first() == updated_at


def test_it_reports_bad_rows_with_line_and_reason_and_keeps_the_good_ones(tmp_path, fixtures_dir):
    source = (fixtures_dir / "bank-marketing" / "bank-additional-train.csv").read_text().splitlines()
    bad = source[2].replace('"no"\n', "").rsplit(";", 1)[0] + ';"maybe"'
    path = tmp_path / "leads.csv"
    path.write_text("\n".join([source[0], source[1], bad, source[3]]) + "\n")
    output = _import(path)
    assert "created 2" in output and "rejected 1" in output
    assert "line 3: outcome: 'maybe' is not one of" in output
    assert Lead.objects.count() == 2


def test_it_refuses_a_file_of_another_format(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("text,category\nhello,card_arrival\n")
    with pytest.raises(CommandError, match="not a Bank Marketing file"):
        _import(path)


def test_it_names_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        _import(tmp_path / "missing.csv")
