"""Labelled intent examples kept outside the training file (support leads' intent corrections), added
to the next training run's training split through a registry: the app that keeps them registers a
reader in its ``AppConfig.ready()``, so scoring trains on them without importing that app. No ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from scoring.intent import Examples

#: Labelled examples kept outside the training file, by name: an app that keeps some registers a
#: reader of (text, intent) pairs in its ``AppConfig.ready()`` (support: its leads' intent
#: corrections), so scoring trains on them without importing that app.
_EXAMPLE_SOURCES: dict[str, Callable[[], Iterable[tuple[str, str]]]] = {}


def intent_examples_register(name: str, read: Callable[[], Iterable[tuple[str, str]]]) -> None:
    """Add ``read()``'s (text, intent) pairs to every later training run's training split."""
    _EXAMPLE_SOURCES[name] = read


def intent_training_examples(train: Examples, holdout: Examples) -> tuple[Examples, dict[str, int]]:
    """The training split with the registered sources' examples added, and how many each added.
    An example is left out when its intent is not among the file's (the model could not learn it
    from one) or its text is in the hold-out (it would grade the model on what it was taught)."""
    known, held_out = set(train.labels), set(holdout.texts)
    texts, labels = list(train.texts), list(train.labels)
    added: dict[str, int] = {}
    for name, read in sorted(_EXAMPLE_SOURCES.items()):
        pairs = [(t, i) for t, i in read() if i in known and t and t not in held_out]
        texts += [t for t, _ in pairs]
        labels += [i for _, i in pairs]
        added[name] = len(pairs)
    return Examples(texts, labels), added
