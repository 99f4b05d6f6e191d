"""Model fields that keep personal data encrypted at rest, and the blind index that finds it again.

A value is stored as ``enc1:`` + a Fernet token (``security.crypto``: the first configured key
encrypts, every key decrypts), so a raw row never holds it in clear; it is decrypted when read.
An empty value stays empty (and ``NULL`` stays ``NULL``), so "has no email" remains a plain query.
A row written before encryption (no ``enc1:`` prefix) still reads as what it holds, which is what
lets the data migration encrypt existing rows in place.

Ciphertext cannot be compared, so the only lookups an encrypted field accepts are ``isnull`` and an
equality with ``""``; anything else fails loudly instead of silently matching nothing. Exact lookups
of an email go through its ``BlindIndexField`` (a keyed HMAC of the normalised address), which
``PersonalDataModel`` keeps in step with the email on every write path: ``save`` (with or without
``update_fields``), ``bulk_create`` (also as an upsert), ``bulk_update`` and ``QuerySet.update``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.lookups import Exact, IsNull

from security import crypto

PREFIX = "enc1:"


def encrypt_value(value: str | None) -> str | None:
    """The stored form of ``value``: ``enc1:<token>``; ``None`` and ``""`` are kept as they are."""
    if value is None or value == "":
        return value
    return PREFIX + crypto.encrypt(value)


def decrypt_value(value: str | None) -> str | None:
    """The clear value of a stored one (a value without the prefix predates encryption)."""
    if value is None or not value.startswith(PREFIX):
        return value
    return crypto.decrypt(value[len(PREFIX) :])


def is_encrypted(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


class EncryptedExact(Exact):
    """Equality with ``""`` only: a ciphertext never equals another encryption of the same value."""

    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None) and not hasattr(self.rhs, "resolve_expression"):
            field = self.lhs.output_field
            raise FieldError(
                f"{field.model.__name__}.{field.name} is encrypted: it can only be compared with ''. "
                "Look an email up by its blind index (e.g. sales.selectors.leads_with_email)."
            )
        return super().get_prep_lookup()


class _Encrypted:
    """What the encrypted fields share: only ``isnull`` and ``= ''`` lookups."""

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return EncryptedExact
        if lookup_name == "isnull":
            return IsNull
        return None

    def get_transform(self, name: str) -> Any:
        return None


class EncryptedTextField(_Encrypted, models.TextField):
    """Free text kept encrypted at rest (``max_length`` is checked by forms, not by the column)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt_value(value)

    def get_prep_value(self, value: Any) -> Any:
        return encrypt_value(super().get_prep_value(value))


class EncryptedEmailField(EncryptedTextField):
    """An email address kept encrypted at rest; validated like ``EmailField``."""

    default_validators = [validators.validate_email]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)

    def formfield(self, form_class: Any = None, choices_form_class: Any = None, **kwargs: Any) -> Any:
        return super().formfield(form_class=form_class or forms.EmailField, **kwargs)


class EncryptedJSONField(_Encrypted, models.TextField):
    """A JSON value kept encrypted at rest (a text column: the database cannot query inside it)."""

    # What django-stubs' plugin types the model attribute as: any JSON value, not a str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.encoder = kwargs.pop("encoder", DjangoJSONEncoder)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not DjangoJSONEncoder:
            kwargs["encoder"] = self.encoder
        return name, path, args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        text = decrypt_value(value)
        return json.loads(text) if text else None

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_value(json.dumps(value, cls=self.encoder, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), cls=self.encoder)

    def formfield(self, form_class: Any = None, choices_form_class: Any = None, **kwargs: Any) -> Any:
        return forms.JSONField(**{"encoder": self.encoder, **kwargs})


def encrypt_personal_keys(value: Any) -> Any:
    """``value`` with the value of every personal key (``security.masking.PERSONAL_KEYS``, at any
    depth) replaced by ``enc1:<token>`` of its JSON; everything else as it is."""
    from security.masking import PERSONAL_KEYS

    if isinstance(value, dict):
        return {
            key: (
                PREFIX + crypto.encrypt(json.dumps(item, cls=DjangoJSONEncoder))
                if str(key).lower() in PERSONAL_KEYS and item not in (None, "")
                else encrypt_personal_keys(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [encrypt_personal_keys(item) for item in value]
    return value


def decrypt_personal_keys(value: Any) -> Any:
    """The inverse of ``encrypt_personal_keys``: every ``enc1:`` string, at any depth, decrypted."""
    if isinstance(value, dict):
        return {key: decrypt_personal_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decrypt_personal_keys(item) for item in value]
    if isinstance(value, str) and value.startswith(PREFIX):
        return json.loads(crypto.decrypt(value[len(PREFIX) :]))
    return value


class PersonalKeysJSONField(models.JSONField):
    """A JSON column that stays queryable (``payload__queue``), with the values of its personal keys
    (an action's ``to``, an ``email``, a ``phone`` …) encrypted inside it."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return decrypt_personal_keys(super().from_db_value(value, expression, connection))

    def get_prep_value(self, value: Any) -> Any:
        return encrypt_personal_keys(super().get_prep_value(value))


class BlindIndexField(models.CharField):
    """The keyed HMAC (``security.crypto.blind_index``) of the email in the ``source`` field.

    Computed from the source every time the row is written, never set by hand; "" when the
    source is empty.
    """

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key in ("max_length", "blank", "default", "editable", "db_index"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = crypto.blind_index(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value


def _index_fields(model: type[models.Model]) -> list[BlindIndexField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]


def with_index_fields(model: type[models.Model], fields: Iterable[str]) -> list[str]:
    """``fields`` plus the blind index of every indexed source among them."""
    names = list(fields)
    for index in _index_fields(model):
        if index.source in names and index.name not in names:
            names.append(index.name)
    return names


class PersonalDataQuerySet(models.QuerySet):
    """Writes in bulk that keep every blind index in step with its source field."""

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        if kwargs.get("update_fields"):
            kwargs["update_fields"] = with_index_fields(self.model, kwargs["update_fields"])
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None) -> int:
        objs, fields = list(objs), list(fields)
        indexes = [f for f in _index_fields(self.model) if f.source in fields]
        for obj in objs:
            for index in indexes:
                index.pre_save(obj, False)
        return super().bulk_update(objs, with_index_fields(self.model, fields), batch_size=batch_size)

    def update(self, **kwargs: Any) -> int:
        for index in _index_fields(self.model):
            if index.source in kwargs and index.name not in kwargs:  # bulk_update sets both itself
                value = kwargs[index.source]
                if value is not None and not isinstance(value, str):
                    raise FieldError(
                        f"{self.model.__name__}.{index.source} can only be updated to a plain value "
                        "(its blind index is computed from it)"
                    )
                kwargs[index.name] = crypto.blind_index(value or "")
        return super().update(**kwargs)

    update.alters_data = True  # type: ignore[attr-defined]


class PersonalDataModel(models.Model):
    """A model with a blind index: ``save(update_fields=[source])`` refreshes the index too."""

    objects = PersonalDataQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = with_index_fields(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)
