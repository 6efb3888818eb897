"""The two meta-models, on XGBoost's native API (its scikit-learn wrappers need scikit-learn,
which this project does not ship; the boosters, objectives and JSON format are the same).

- TrainingDecisionModel: a binary:logistic booster for P(training helps), i.e. the measured
  improvement reached `beneficial_improvement_pct`, and a reg:squarederror booster for the
  expected improvement in percent.
- TrainingStrategyModel: a multi:softprob booster over SKIP / SYNTHETIC / HYBRID / PURE_REAL.
  A record's label is the strategy it used when that helped, else SKIP: "what worked here".
  The class count is fixed, so a history that never saw some strategy still trains.

Each model serialises to XGBoost's own JSON (`save_raw("json")`, the bytes `save_model("x.json")`
writes) plus a metadata dict holding the feature list; never pickle.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from pipeline.config import MetaModelParams
from pipeline.planning.context import FEATURES, vector
from pipeline.planning.rules import STRATEGIES

if TYPE_CHECKING:
    import xgboost


def _params(params: MetaModelParams, **objective: Any) -> dict[str, Any]:
    return {
        "max_depth": params.max_depth,
        "eta": params.learning_rate,
        "min_child_weight": params.min_child_weight,
        "seed": params.seed,
        "nthread": params.nthread,
        **objective,
    }


def _matrix(rows: list[dict[str, Any]], features: tuple[str, ...], label: list[float] | None = None) -> "xgboost.DMatrix":
    import numpy as np
    import xgboost as xgb

    data = np.array([vector(r, features) for r in rows], dtype=float).reshape(len(rows), len(features))
    return xgb.DMatrix(data, label=None if label is None else np.array(label, dtype=float), feature_names=list(features), missing=np.nan)


def _predict(booster: "xgboost.Booster", rows: list[dict[str, Any]], features: tuple[str, ...]) -> Any:
    # inplace_predict skips building a DMatrix: ~0.15 ms instead of ~16 ms per call here.
    import numpy as np

    data = np.array([vector(r, features) for r in rows], dtype=float).reshape(len(rows), len(features))
    return booster.inplace_predict(data, missing=np.nan)


def _to_json(booster: "xgboost.Booster") -> bytes:
    return bytes(booster.save_raw("json"))


def _from_json(data: bytes) -> "xgboost.Booster":
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    return booster


class TrainingDecisionModel:
    KIND = "decision"
    FILES = ("classifier.json", "regressor.json")

    def __init__(self, classifier: "xgboost.Booster", regressor: "xgboost.Booster", metadata: dict[str, Any]) -> None:
        self.classifier = classifier
        self.regressor = regressor
        self.metadata = metadata
        self.features: tuple[str, ...] = tuple(metadata["features"])

    @classmethod
    def fit(
        cls, contexts: list[dict[str, Any]], improvements: list[float], *, beneficial_pct: float, max_abs_pct: float,
        params: MetaModelParams,
    ) -> "TrainingDecisionModel":
        import xgboost as xgb

        helped = [1.0 if i >= beneficial_pct else 0.0 for i in improvements]
        clipped = [max(-max_abs_pct, min(max_abs_pct, i)) for i in improvements]
        classifier = xgb.train(
            _params(params, objective="binary:logistic", eval_metric="logloss"),
            _matrix(contexts, FEATURES, helped),
            num_boost_round=params.n_estimators,
        )
        regressor = xgb.train(
            _params(params, objective="reg:squarederror"), _matrix(contexts, FEATURES, clipped), num_boost_round=params.n_estimators
        )
        probabilities = _predict(classifier, contexts, FEATURES)
        accuracy = sum(1 for p, h in zip(probabilities, helped) if (p >= 0.5) == (h == 1.0)) / len(helped)
        metadata = {
            "kind": cls.KIND,
            "features": list(FEATURES),
            "records": len(contexts),
            "beneficial_improvement_pct": beneficial_pct,
            "helped_share": round(sum(helped) / len(helped), 4),
            "train_accuracy": round(accuracy, 4),
            "params": params.model_dump(),
            "xgboost_version": xgb.__version__,
        }
        return cls(classifier, regressor, metadata)

    def predict(self, features: dict[str, Any]) -> tuple[float, float]:
        """(P(training helps), expected improvement in percent)."""
        return float(_predict(self.classifier, [features], self.features)[0]), float(_predict(self.regressor, [features], self.features)[0])

    def files(self) -> dict[str, bytes]:
        return {"classifier.json": _to_json(self.classifier), "regressor.json": _to_json(self.regressor)}

    @classmethod
    def from_files(cls, files: dict[str, bytes], metadata: dict[str, Any]) -> "TrainingDecisionModel":
        return cls(_from_json(files["classifier.json"]), _from_json(files["regressor.json"]), metadata)


class TrainingStrategyModel:
    KIND = "strategy"
    FILES = ("classifier.json",)
    CLASSES = STRATEGIES

    def __init__(self, classifier: "xgboost.Booster", metadata: dict[str, Any]) -> None:
        self.classifier = classifier
        self.metadata = metadata
        self.features: tuple[str, ...] = tuple(metadata["features"])
        self.classes: tuple[str, ...] = tuple(metadata["classes"])

    @staticmethod
    def label(strategy: str, improvement: float, beneficial_pct: float) -> str:
        return strategy if strategy != "SKIP" and improvement >= beneficial_pct else "SKIP"

    @classmethod
    def fit(cls, contexts: list[dict[str, Any]], labels: list[str], *, params: MetaModelParams) -> "TrainingStrategyModel":
        import xgboost as xgb

        index = {name: i for i, name in enumerate(cls.CLASSES)}
        classifier = xgb.train(
            _params(params, objective="multi:softprob", num_class=len(cls.CLASSES), eval_metric="mlogloss"),
            _matrix(contexts, FEATURES, [index[label] for label in labels]),
            num_boost_round=params.n_estimators,
        )
        metadata = {
            "kind": cls.KIND,
            "features": list(FEATURES),
            "classes": list(cls.CLASSES),
            "records": len(contexts),
            "label_counts": dict(sorted(Counter(labels).items())),
            "params": params.model_dump(),
            "xgboost_version": xgb.__version__,
        }
        model = cls(classifier, metadata)
        predicted = [max(p, key=p.get) for p in model.predict_many(contexts)]
        metadata["train_accuracy"] = round(sum(1 for a, b in zip(predicted, labels) if a == b) / len(labels), 4)
        return model

    def predict_proba(self, features: dict[str, Any]) -> dict[str, float]:
        return self.predict_many([features])[0]

    def predict_many(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        out = _predict(self.classifier, rows, self.features)
        return [{name: round(float(p), 4) for name, p in zip(self.classes, row)} for row in out]

    def files(self) -> dict[str, bytes]:
        return {"classifier.json": _to_json(self.classifier)}

    @classmethod
    def from_files(cls, files: dict[str, bytes], metadata: dict[str, Any]) -> "TrainingStrategyModel":
        return cls(_from_json(files["classifier.json"]), metadata)


MODEL_KINDS: dict[str, type[TrainingDecisionModel] | type[TrainingStrategyModel]] = {
    TrainingDecisionModel.KIND: TrainingDecisionModel,
    TrainingStrategyModel.KIND: TrainingStrategyModel,
}
