import pytest
from django.db import IntegrityError, transaction

from core.statemachine import IllegalTransition
from scoring.models import ModelVersion
from scoring.services import model_version_transition
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_it_allows_only_one_champion_per_kind_in_the_database():
    ModelVersionFactory(status="champion")
    ModelVersionFactory(status="champion", kind="intent")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersionFactory(status="champion")


def test_promoting_a_champion_retires_the_previous_one_and_records_why():
    old = ModelVersionFactory(status="champion")
    new = ModelVersionFactory(status="canary")
    model_version_transition(version_id=new.pk, to="champion", actor="ops.admin", reason="beats v1 on AUC")
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("retired", "champion")
    assert new.history.first().history_change_reason == "beats v1 on AUC"
    assert "replaced by" in old.history.first().history_change_reason


def test_rolling_back_brings_the_retired_champion_back():
    old = ModelVersionFactory(status="champion")
    new = ModelVersionFactory(status="candidate")
    model_version_transition(version_id=new.pk, to="champion", actor="ops", reason="promote")
    model_version_transition(
        version_id=old.pk, to="champion", actor="ops", reason="rollback: conversion dropped"
    )
    assert ModelVersion.objects.get(status="champion").pk == old.pk
    assert ModelVersion.objects.get(pk=new.pk).status == "retired"


def test_it_rejects_an_illegal_model_transition():
    version = ModelVersionFactory(status="champion")
    with pytest.raises(IllegalTransition):
        model_version_transition(version_id=version.pk, to="shadow", actor="ops", reason="try")


def test_it_requires_a_reason():
    version = ModelVersionFactory(status="candidate")
    with pytest.raises(ValueError, match="reason"):
        model_version_transition(version_id=version.pk, to="shadow", actor="ops", reason=" ")
