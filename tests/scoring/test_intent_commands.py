"""Training, registering, promoting and evaluating the intent model through its services and commands.

Trained on 8 examples per intent (616 texts, a couple of seconds); the hold-out is still the whole 20%.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import DecisionLogEntry
from scoring import intent_models, intent_services
from scoring.choices import ModelKind, ModelStatus
from scoring.intent_models import IntentGatePolicy
from scoring.intent_services import intent_model_train
from scoring.models import ModelVersion

# One xdist worker for the tests that train the intent model on Banking77: the sentence encoder keeps
# the vectors of the texts it encoded per process, and encoding the hold-out and the training texts
# (about a minute) is then paid once, not once per worker.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("intent-model")]
PER_INTENT = 8
LENIENT = IntentGatePolicy(min_accuracy=0.0, min_coverage=0.0, min_precision=0.0, max_accuracy_drop=1.0)


@pytest.fixture
def candidate() -> ModelVersion:
    return intent_model_train(actor="test", per_intent=PER_INTENT)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_registers_a_candidate_with_its_metrics_and_provenance(candidate):
    assert candidate.kind == ModelKind.INTENT and candidate.version == 1
    assert candidate.status == ModelStatus.CANDIDATE
    assert candidate.training_rows == 77 * PER_INTENT
    assert len(candidate.training_data_hash) == 64 and len(candidate.artifact_sha256) == 64
    metrics = candidate.metrics
    # Support leads' corrections join the training part (none here; tests/support/test_workspace*.py).
    assert metrics["sizes"] == {
        "train": 77 * PER_INTENT,
        "holdout": 1998,
        "per_intent": PER_INTENT,
        "extra": {"support_corrections": 0},
    }
    assert 0 < metrics["accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1
    assert len(metrics["per_intent_f1"]) == 77
    assert len(metrics["curve"]) == 100 and metrics["curve"][0]["coverage"] == 1.0
    assert len(metrics["split_sha256"]) == 64
    assert {"python", "scikit-learn", "numpy"} <= set(candidate.library_versions)
    holdout = candidate.reference["holdout"]
    assert len(holdout["texts"]) == len(holdout["labels"]) == len(holdout["predicted"]) == 1998
    assert 0 < candidate.preprocessing["default_threshold"] <= 1
    entry = DecisionLogEntry.objects.get(event_type="model.trained", subject_id=candidate.pk)
    assert entry.model_version == "intent:banking77:v1"


def test_a_weak_model_fails_the_gate_and_cannot_be_promoted(candidate):
    from scoring.services import GateFailed, model_version_promote

    assert candidate.validation["passed"] is False
    failed = {c["name"] for c in candidate.validation["checks"] if not c["passed"]}
    assert "accuracy" in failed
    with pytest.raises(GateFailed, match="accuracy"):
        model_version_promote(version_id=candidate.pk, to="champion", actor="test", reason="try")
    assert ModelVersion.objects.get(pk=candidate.pk).status == ModelStatus.CANDIDATE


def test_the_next_candidate_is_compared_with_the_champion(candidate, monkeypatch):
    from scoring.services import model_version_promote

    monkeypatch.setattr(intent_models, "INTENT_GATE", LENIENT)
    model_version_promote(version_id=candidate.pk, to="champion", actor="test", reason="first")
    second = intent_model_train(actor="test", per_intent=PER_INTENT)
    assert second.version == 2
    champion_check = next(c for c in second.validation["checks"] if c["name"] == "champion")
    assert champion_check["passed"]  # same data, same seed: the same accuracy
    assert second.validation["champion"] == "intent:banking77:v1"
    assert second.validation["champion_accuracy"] == pytest.approx(candidate.metrics["accuracy"])


def test_the_train_command_registers_and_prints_the_figures():
    out = run("train_intent_model", "--per-intent", str(PER_INTENT), "--no-progress")
    assert "registered intent:banking77:v1 (candidate), trained on 616 examples" in out
    assert "accuracy" in out and "macro-F1" in out and "at the default threshold" in out
    assert "validation gate: FAILED" in out
    assert "NO  accuracy" in out


def test_the_train_command_refuses_to_promote_past_a_failed_gate():
    with pytest.raises(CommandError, match="cannot be promoted"):
        run("train_intent_model", "--per-intent", str(PER_INTENT), "--no-progress", "--promote")
    assert not ModelVersion.objects.filter(kind=ModelKind.INTENT, status=ModelStatus.CHAMPION).exists()


def test_the_train_command_promotes_when_the_gate_passes(monkeypatch):
    monkeypatch.setattr(intent_models, "INTENT_GATE", LENIENT)
    out = run("train_intent_model", "--per-intent", str(PER_INTENT), "--no-progress", "--promote")
    assert "intent:banking77:v1 is now champion" in out
    assert ModelVersion.objects.get(kind=ModelKind.INTENT).status == ModelStatus.CHAMPION


def test_the_train_command_names_the_problem_in_a_bad_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,intent\nhello,card_arrival\n")
    with pytest.raises(CommandError, match="bad.csv: missing column 'category'"):
        run("train_intent_model", "--data", str(path), "--no-progress")


def test_evaluate_defaults_to_the_hold_out_of_the_newest_version(candidate):
    out = run("evaluate_intent_model")
    assert "intent:banking77:v1 on the hold-out of intent:banking77:v1 (train.csv): 1998 examples" in out
    assert f"accuracy   {candidate.metrics['accuracy']:.4f}" in out
    assert f"macro-F1   {candidate.metrics['macro_f1']:.4f}" in out
    assert f"coverage {candidate.metrics['coverage']:.4f}" in out


def test_evaluate_reads_a_labelled_file(candidate, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text(
        "text,category\n"
        "I am still waiting on my card?,card_arrival\n"
        "I want to close my account,terminate_account\n"
    )
    out = run("evaluate_intent_model", "--data", str(path))
    assert "intent:banking77:v1 on tickets.csv: 2 examples" in out
    assert "accuracy" in out and "coverage" in out and "precision" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\nhi,card_arrival\n", "tickets.csv: missing column 'category'"),
        ("text,category\nhi,card_arrival\n,card_arrival\n", "tickets.csv line 3: column 'text' is empty"),
        (
            "text,category\nhi,card_arrival\nyo,not_an_intent\n",
            "tickets.csv line 3: column 'category': unknown intent 'not_an_intent'",
        ),
    ],
)
def test_evaluate_names_the_column_and_row_of_a_bad_file(candidate, tmp_path, content, message):
    path = tmp_path / "tickets.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("evaluate_intent_model", "--data", str(path))


def test_evaluate_without_a_model_says_what_to_do():
    with pytest.raises(CommandError, match="run manage.py train_intent_model first"):
        run("evaluate_intent_model")


def test_evaluate_prefers_the_champion(candidate, monkeypatch):
    from scoring.services import model_version_promote

    monkeypatch.setattr(intent_models, "INTENT_GATE", LENIENT)
    model_version_promote(version_id=candidate.pk, to="champion", actor="test", reason="first")
    intent_model_train(actor="test", per_intent=PER_INTENT)
    assert "intent:banking77:v1 on" in run("evaluate_intent_model")
    assert "intent:banking77:v2 on" in run("evaluate_intent_model", "--model-version", "2")


def test_the_task_trains_and_promotes_only_past_the_gate(monkeypatch):
    from scoring.tasks import train_intent_model_task

    real = intent_services.intent_model_train
    monkeypatch.setattr(intent_services, "intent_model_train", lambda **kw: real(**kw, per_intent=PER_INTENT))
    pk = train_intent_model_task(promote=True)
    assert ModelVersion.objects.get(pk=pk).status == ModelStatus.CANDIDATE  # gate failed: not promoted
    monkeypatch.setattr(intent_models, "INTENT_GATE", LENIENT)
    pk = train_intent_model_task(promote=True)
    assert ModelVersion.objects.get(pk=pk).status == ModelStatus.CHAMPION


def test_data_paths_are_the_shared_fixture():
    assert Path(intent_services.BANKING77).name == "train.csv"
    assert Path(intent_services.BANKING77).exists()


def test_a_version_is_unpickled_once_per_process(candidate, monkeypatch):
    from scoring.intent import load_model

    calls = []
    monkeypatch.setattr(intent_models, "_LOADED", {})
    monkeypatch.setattr(intent_models, "load_model", lambda *a: calls.append(1) or load_model(*a))
    first = intent_models.intent_model(candidate)
    again = intent_models.intent_model(ModelVersion.objects.get(pk=candidate.pk))
    assert first is again and len(calls) == 1
