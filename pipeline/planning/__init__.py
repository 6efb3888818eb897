"""Learned planning: per module target, whether to train and with which data strategy.

- `context`: the modeling context (features) of one target in one run.
- `rules`: the seed's cold-start rules.
- `models`: the two XGBoost meta-models (TrainingDecisionModel, TrainingStrategyModel).
- `registry`: their immutable versions and current pointer in the object store.
- `history`: every run's decisions and, once known, their measured outcomes.
- `planner`: rules or models, whichever the history allows, for each target.
"""
