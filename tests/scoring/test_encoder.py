"""scoring.encoder: the numpy sentence encoder gives sentence-transformers' vectors, and refuses
weights that are not the pinned ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scoring import encoder
from scoring.encoder import EncoderUnavailable, SentenceEncoder, shared_encoder

REFERENCE = json.loads((Path(__file__).parent / "encoder_reference.json").read_text())


def test_it_gives_the_reference_implementations_vectors():
    # encoder_reference.json was written by sentence-transformers on PyTorch (see its generated_by).
    found = shared_encoder().encode(REFERENCE["texts"]).vectors
    assert np.allclose(found, np.array(REFERENCE["vectors"]), atol=2e-6)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)


def test_batches_and_padding_do_not_change_a_vector():
    texts = REFERENCE["texts"] + ["a much longer text " * 20]
    alone = np.vstack([shared_encoder().encode([t]).vectors[0] for t in texts])
    together = shared_encoder().encode(texts).vectors
    assert np.allclose(alone, together, atol=1e-5)


def test_token_shares_add_up_to_the_vector_and_carry_their_spans():
    text = "Why was I charged £5?"
    encoded = shared_encoder().encode([text])
    assert np.allclose(encoded.shares[0].sum(axis=0), encoded.vectors[0], atol=1e-6)
    spans = encoded.spans[0]
    assert len(spans) == len(encoded.shares[0])
    assert spans[0] == (0, 0) and spans[-1] == (0, 0)  # [CLS] and [SEP]
    # Offsets point into the text as given (the tokenizer lower-cases internally).
    assert [text[a:b] for a, b in spans[1:-1]] == ["Why", "was", "I", "charged", "£5", "?"]


def test_cached_vectors_equal_fresh_ones():
    texts = ["where is my card", "where is my card", "top up failed"]
    first = shared_encoder().vectors(texts)
    again = shared_encoder().vectors(list(reversed(texts)))
    assert np.array_equal(first[0], first[1]) and np.array_equal(first[0], again[2])
    assert np.allclose(first, shared_encoder().encode(texts).vectors, atol=1e-6)


def test_it_refuses_weights_that_are_not_the_pinned_ones(tmp_path):
    source = encoder.model_dir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(
        EncoderUnavailable, match=r"model.safetensors: sha256 [0-9a-f]{64}, expected 53aa5117"
    ):
        SentenceEncoder(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(EncoderUnavailable, match="model.safetensors: missing"):
        SentenceEncoder(tmp_path)


def test_a_missing_package_is_named(monkeypatch):
    monkeypatch.setattr(encoder, "ENCODER_PACKAGE", "agentops_no_such_encoder_package")
    with pytest.raises(EncoderUnavailable, match="'agentops_no_such_encoder_package' is not installed"):
        encoder.model_dir()
