"""Text an approver could misread is refused: direction controls, invisible characters, look-alikes."""

from __future__ import annotations

import pytest

from approvals.confusables import BIDI_CONTROLS, control_problem, name_problem


@pytest.mark.parametrize(
    "value",
    ["Quick question", "Ihre Anfrage zu Überweisungen", "Привет, Ada", "東京のお客様", "Re: 50% off – today"],
)
def test_it_lets_ordinary_text_in_any_script_through(value):
    assert control_problem(value) is None


@pytest.mark.parametrize("ch", sorted(BIDI_CONTROLS))
def test_it_refuses_every_direction_control(ch):
    problem = control_problem(f"Invoice {ch}gnp.exe")
    assert problem is not None and f"U+{ord(ch):04X}" in problem


@pytest.mark.parametrize("ch", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_it_refuses_invisible_format_characters(ch):
    assert "invisible" in (control_problem(f"ad{ch}min") or "")


@pytest.mark.parametrize("ch", ["\r", "\n", "\t", "\x00", "\x1b", "\x85"])
def test_it_refuses_control_characters_line_breaks_included(ch):
    assert "control character" in (control_problem(f"Subject{ch}Bcc: eve@example.com") or "")


@pytest.mark.parametrize(
    "value",
    ["ada.lovelace", "Enterprise Dormant", "Inbound hot", "Équipe Nord", "Отдел продаж", "Ops admins"],
)
def test_it_lets_a_name_in_one_script_per_word_through(value):
    assert name_problem(value) is None


@pytest.mark.parametrize(
    ("value", "scripts"),
    [
        ("\u0430dmin", "Cyrillic and Latin"),  # Cyrillic а
        ("Enterprise D\u03bfrmant", "Greek and Latin"),  # Greek ο
        ("p\u0430yp\u0430l", "Cyrillic and Latin"),
        ("\u0410\u0432\u0430 ada", None),  # two words, one script each: fine
    ],
)
def test_it_refuses_a_word_mixing_scripts_that_pass_for_each_other(value, scripts):
    problem = name_problem(value)
    if scripts is None:
        assert problem is None
    else:
        assert problem is not None and scripts in problem


@pytest.mark.parametrize("value", ["\uff41dmin", "\U0001d41admin", "ad\u2126"])
def test_it_refuses_full_width_and_styled_letters(value):
    assert "NFKC" in (name_problem(value) or "")


def test_a_name_is_held_to_the_control_rules_too():
    assert name_problem("ada\u202enimda") is not None
    assert name_problem("ad\u200bmin") is not None
