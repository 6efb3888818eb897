"""A classical text classifier and a nearest-neighbour index over short queries, stored as JSON.

What a platform team tries first for routing: TF-IDF over word 1–2-grams and character 2–5-grams
(inside word boundaries) and a multinomial logistic regression. It trains in well under a
second, needs no model download, and serves as the routing program's fast tier and as the
vectorizer that picks demonstrations per query. Fitting uses scikit-learn; the fitted state
(vocabularies, idf weights, coefficients) is plain JSON — never a pickle — and is loaded back
into scikit-learn objects for inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

STATE_VERSION = 1
# The vectorizers' settings; part of the state so a loaded model analyses text as it was fitted.
WORD = {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True}
CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "lowercase": True}
DEFAULT_C = 10.0  # weak regularisation: a few hundred short queries, many sparse features
_DECIMALS = 6  # rounding of stored floats: keeps the JSON compact, predictions unchanged in practice


def _vectorizer(settings: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**settings)


class TfidfFeatures:
    """Word and character TF-IDF, each L2-normalised, concatenated and scaled so that the
    whole vector has unit norm (the dot product of two vectors is their cosine)."""

    def __init__(self, word: Any, char: Any) -> None:
        self._word, self._char = word, char

    @classmethod
    def fit(cls, texts: Sequence[str]) -> "TfidfFeatures":
        if not texts:
            raise ValueError("cannot fit TF-IDF features on no texts")
        word, char = _vectorizer(WORD), _vectorizer(CHAR)
        word.fit(texts)
        char.fit(texts)
        return cls(word, char)

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return (hstack([self._word.transform(texts), self._char.transform(texts)]) * (1 / math.sqrt(2))).tocsr()

    def state(self) -> dict[str, Any]:
        return {"word": _vectorizer_state(self._word), "char": _vectorizer_state(self._char)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TfidfFeatures":
        return cls(_vectorizer_from_state(WORD, state["word"]), _vectorizer_from_state(CHAR, state["char"]))


def _vectorizer_state(vectorizer: Any) -> dict[str, Any]:
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    return {"terms": terms, "idf": [round(float(v), _DECIMALS) for v in vectorizer.idf_]}


def _vectorizer_from_state(settings: dict[str, Any], state: dict[str, Any]) -> Any:
    terms, idf = state["terms"], state["idf"]
    if len(terms) != len(idf) or not terms:
        raise ValueError("TF-IDF state: terms and idf weights differ in length or are empty")
    vectorizer = _vectorizer({**settings, "vocabulary": {term: i for i, term in enumerate(terms)}})
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)  # the vocabulary is fixed: no fit needed
    return vectorizer


@dataclass
class TextClassifier:
    """TF-IDF + multinomial logistic regression. `predict_proba` rows follow `labels`."""

    features: TfidfFeatures
    labels: list[str]
    coef: np.ndarray  # (n_labels, n_features)
    intercept: np.ndarray  # (n_labels,)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, c: float = DEFAULT_C, seed: int = 0) -> "TextClassifier":
        from sklearn.linear_model import LogisticRegression

        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least two labels, got {classes}")
        features = TfidfFeatures.fit(texts)
        model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
        model.fit(features.transform(texts), list(labels))
        return cls(features, [str(label) for label in model.classes_], model.coef_.copy(), model.intercept_.copy())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        scores = self.features.transform(texts) @ self.coef.T + self.intercept
        if len(self.labels) == 2:
            # scikit-learn's binary model keeps one row of coefficients for the second class.
            scores = np.column_stack([-scores[:, 0], scores[:, 0]]) / 2
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, probability) per text."""
        probs = self.predict_proba(texts)
        return [(self.labels[int(row.argmax())], float(row.max())) for row in probs]

    def state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "features": self.features.state(),
            "labels": self.labels,
            "coef": np.round(self.coef, _DECIMALS).tolist(),
            "intercept": np.round(self.intercept, _DECIMALS).tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TextClassifier":
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"text classifier state version {state.get('version')!r}; this code reads {STATE_VERSION}")
        return cls(
            TfidfFeatures.from_state(state["features"]),
            list(state["labels"]),
            np.asarray(state["coef"], dtype=np.float64),
            np.asarray(state["intercept"], dtype=np.float64),
        )


class NearestNeighbours:
    """Cosine nearest neighbours over a labelled pool of texts, in TF-IDF space."""

    def __init__(self, features: TfidfFeatures, texts: Sequence[str]) -> None:
        self.features = features
        self.texts = list(texts)
        self._matrix = features.transform(self.texts) if self.texts else None

    def nearest(self, text: str, k: int, *, exclude: str | None = None) -> list[tuple[int, float]]:
        """Up to k (pool index, similarity), most similar first; `exclude` drops pool entries with
        that exact (normalised) text — a query must not be its own demonstration."""
        if self._matrix is None or k <= 0:
            return []
        scores = (self.features.transform([text]) @ self._matrix.T).toarray()[0]
        order = np.argsort(-scores, kind="stable")
        skip = normalise(exclude) if exclude is not None else None
        picked = []
        for index in order:
            if skip is not None and normalise(self.texts[index]) == skip:
                continue
            picked.append((int(index), float(scores[index])))
            if len(picked) == k:
                break
        return picked


def normalise(text: str) -> str:
    """Case- and punctuation-insensitive form: what counts as "the same query"."""
    return " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())
