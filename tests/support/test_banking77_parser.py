"""Unit tests for support.importers.banking77.parse_banking77 (file parsing only, no database)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from support.importers.banking77 import SUBJECT_LENGTH, FormatError, parse_banking77

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "banking77"


def write_csv(tmp_path: Path, content: str, name: str = "b77.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_a_row_becomes_a_solved_chat_ticket_with_its_intent_label(tmp_path):
    path = write_csv(tmp_path, "text,category\nI am still waiting on my card?,card_arrival\n")
    ((line, row),) = list(parse_banking77(path))
    assert line == 2
    assert row == {
        "source": "banking77",
        "external_id": "b77-00001",
        "subject": "I am still waiting on my card?",
        "body": "I am still waiting on my card?",
        "status": "solved",
        "channel": "chat",
        "intent_label": "card_arrival",
    }


def test_external_ids_and_line_numbers_follow_the_file_order(tmp_path):
    path = write_csv(tmp_path, "text,category\na,x\nb,y\nc,z\n")
    rows = list(parse_banking77(path))
    assert [line for line, _ in rows] == [2, 3, 4]
    assert [row["external_id"] for _, row in rows] == ["b77-00001", "b77-00002", "b77-00003"]


def test_text_and_category_are_stripped(tmp_path):
    path = write_csv(tmp_path, 'text,category\n"  Where is my card?  ", card_arrival \n')
    ((_, row),) = list(parse_banking77(path))
    assert row["body"] == "Where is my card?"
    assert row["subject"] == "Where is my card?"
    assert row["intent_label"] == "card_arrival"


def test_a_text_of_exactly_the_subject_length_is_kept_whole(tmp_path):
    text = "x" * SUBJECT_LENGTH
    ((_, row),) = list(parse_banking77(write_csv(tmp_path, f"text,category\n{text},c\n")))
    assert SUBJECT_LENGTH == 80
    assert row["subject"] == text
    assert "…" not in row["subject"]


def test_a_longer_text_gets_a_subject_of_80_characters_ending_in_an_ellipsis(tmp_path):
    # given a text of 81 characters
    text = "".join(chr(ord("a") + i % 26) for i in range(81))
    # when parsed
    ((_, row),) = list(parse_banking77(write_csv(tmp_path, f"text,category\n{text},c\n")))
    # then the subject is the first 79 characters and an ellipsis, and the body is whole
    assert len(row["subject"]) == 80
    assert row["subject"] == text[:79] + "…"
    assert row["body"] == text


def test_a_wrong_header_raises_format_error_naming_the_file(tmp_path):
    path = write_csv(tmp_path, "query,label\nWhere is my card?,card_arrival\n", name="queries.csv")
    with pytest.raises(FormatError, match="queries.csv: not a BANKING77 file"):
        list(parse_banking77(path))


def test_an_empty_file_raises_format_error(tmp_path):
    path = write_csv(tmp_path, "", name="empty.csv")
    with pytest.raises(FormatError, match="empty.csv"):
        list(parse_banking77(path))


# --- the real fixture ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_rows() -> list[tuple[int, dict]]:
    return list(parse_banking77(FIXTURES / "train.csv"))


def test_the_real_training_file_has_10003_rows(real_rows):
    assert len(real_rows) == 10_003
    assert len({row["external_id"] for _, row in real_rows}) == 10_003


def test_the_real_file_has_the_77_intents_of_categories_json(real_rows):
    categories = json.loads((FIXTURES / "categories.json").read_text(encoding="utf-8"))
    labels = {row["intent_label"] for _, row in real_rows}
    assert len(labels) == 77
    assert labels == set(categories)


def test_every_real_row_has_a_body_and_a_subject_within_the_limit(real_rows):
    with (FIXTURES / "train.csv").open(newline="", encoding="utf-8-sig") as handle:
        texts = [record["text"].strip() for record in csv.DictReader(handle)]
    assert [row["body"] for _, row in real_rows] == texts
    assert all(row["body"] for _, row in real_rows)
    assert all(len(row["subject"]) <= SUBJECT_LENGTH for _, row in real_rows)
    long_rows = [row for _, row in real_rows if len(row["body"]) > SUBJECT_LENGTH]
    assert long_rows  # the real file does contain long queries
    assert all(row["subject"].endswith("…") for row in long_rows)
