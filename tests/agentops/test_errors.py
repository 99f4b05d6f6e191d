"""The one application error base: its body and status, and the API answering with them."""

from core.api.exceptions import api_exception_handler
from core.errors import AppError


class Refusal(AppError):
    statuses = {"taken": 409}


def test_it_answers_the_status_its_class_gives_the_code():
    assert Refusal("taken", "x").http_status == 409
    assert Refusal("anything_else", "x").http_status == 400


def test_it_names_the_field_only_when_the_error_is_about_one():
    assert Refusal("bad", "name: too long", field="name").body() == {
        "code": "bad",
        "field": "name",
        "detail": "name: too long",
    }
    assert Refusal("bad", "no").body() == {"code": "bad", "detail": "no"}


def test_the_api_handler_answers_an_app_error_with_its_body_and_status():
    response = api_exception_handler(Refusal("taken", "already there", field="key"), {})
    assert response is not None
    assert response.status_code == 409
    assert response.data == {"code": "taken", "field": "key", "detail": "already there"}


def test_the_api_handler_leaves_other_errors_to_drf():
    assert api_exception_handler(ValueError("boom"), {}) is None
