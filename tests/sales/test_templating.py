"""Sandboxed merge fields: only listed names, missing fields are errors that name the field."""

import pytest

from sales.templating import MERGE_FIELDS, TemplateError, fields_used, render


def test_it_fills_listed_fields():
    text = "Hi {{ first_name }}, {{company}} looked at pricing."
    assert (
        render(text, {"first_name": "Ada", "company": "Northwind"}) == "Hi Ada, Northwind looked at pricing."
    )
    assert fields_used(text) == {"first_name", "company"}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_or_blank_field_is_an_error_naming_it(value):
    with pytest.raises(TemplateError) as caught:
        render("Hi {{ first_name }}", {"first_name": value})
    assert caught.value.field == "first_name"
    assert "no value" in caught.value.reason


def test_a_fallback_fills_a_missing_field_on_purpose():
    assert render('Hi {{ first_name | "there" }}', {}) == "Hi there"
    assert render('Hi {{ first_name | "there" }}', {"first_name": "Ada"}) == "Hi Ada"


@pytest.mark.parametrize(
    "template",
    [
        "{{ lead.email }}",
        "{{ first_name.__class__ }}",
        "{{ first_name|upper }}",
        "{{ __import__('os') }}",
        "{% for x in y %}",  # not a merge field at all, but harmless text: see below
    ],
)
def test_it_refuses_anything_but_a_plain_listed_name(template):
    if template.startswith("{%"):
        assert render(template, {}) == template  # no template language: printed as written
        return
    with pytest.raises(TemplateError):
        render(template, {"first_name": "Ada"})


def test_an_unknown_field_names_the_allowed_ones():
    with pytest.raises(TemplateError) as caught:
        render("{{ password }}", {"password": "hunter2"})
    assert caught.value.field == "password"
    assert "first_name" in caught.value.reason


def test_values_are_inserted_verbatim_and_never_rendered_again():
    assert (
        render("Hi {{ first_name }}", {"first_name": "{{ unsubscribe_url }}"}) == "Hi {{ unsubscribe_url }}"
    )


@pytest.mark.parametrize("template", ["Hi {{ first_name", "Hi first_name }}", "{{ }}"])
def test_unbalanced_or_empty_inserts_are_errors(template):
    with pytest.raises(TemplateError):
        render(template, {"first_name": "Ada"})


def test_every_listed_field_has_a_description():
    assert all(MERGE_FIELDS.values())
