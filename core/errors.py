"""The one base of the errors our services raise for a caller to read. Pure (no ORM, no HTTP).

An ``AppError`` carries a stable ``code`` (what integrations branch on), a ``message`` for people
(it names the field and the reason), the ``field`` it is about when there is one, and the HTTP
status it answers with. Each app's errors subclass it and say which of their codes answer with
which status (``statuses``); the API's exception handler (``core.api.exceptions``) turns any
of them into the same JSON body, and pages show ``message``: nowhere else is an error translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

BAD_REQUEST = 400
FORBIDDEN = 403
CONFLICT = 409


class AppError(Exception):
    """An error a caller can act on: ``code`` (stable), ``message``, and the ``field`` it is about
    (None when it is about no field in particular)."""

    #: The status of a code ``statuses`` does not name.
    default_status: ClassVar[int] = BAD_REQUEST
    #: The status of each code that answers with another one than ``default_status``.
    statuses: ClassVar[Mapping[str, int]] = {}

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        self.code = code
        self.message = message
        self.field = field
        super().__init__(message)

    @property
    def http_status(self) -> int:
        return self.statuses.get(self.code, self.default_status)

    def body(self) -> dict[str, Any]:
        """What the API answers: ``code``, ``field`` (unless the error names none), ``detail``, and
        whatever the error adds (``extra``)."""
        document: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            document["field"] = self.field
        document["detail"] = self.message
        document.update(self.extra())
        return document

    def extra(self) -> dict[str, Any]:
        """More for the caller to act on (a subclass adds what it knows); nothing by default."""
        return {}
