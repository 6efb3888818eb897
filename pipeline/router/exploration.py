"""Epsilon-greedy exploration, as the seed's router did it: with probability ε a decision goes to
a random other agent instead of the program's choice, so the traces keep measuring the agents the
program would never pick; ε decays by `decay` per decision down to `floor`."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from pipeline.errors import ConfigError


class EpsilonGreedy:
    def __init__(self, epsilon: float = 0.1, decay: float = 0.995, floor: float = 0.05, *, seed: int | None = None) -> None:
        for name, value in (("epsilon", epsilon), ("decay", decay), ("floor", floor)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"exploration {name} must be in [0, 1], got {value}")
        if floor > epsilon:
            raise ConfigError(f"exploration floor {floor} is above epsilon {epsilon}")
        self.epsilon = epsilon
        self.decay = decay
        self.floor = floor
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def choose(self, recommended: str, agents: Sequence[str]) -> tuple[str, bool, float]:
        """(agent, explored, the ε this decision was made with); ε then decays."""
        others = [agent for agent in agents if agent != recommended]
        with self._lock:
            epsilon = self.epsilon
            explored = bool(others) and self._rng.random() < epsilon
            agent = self._rng.choice(others) if explored else recommended
            self.epsilon = max(self.floor, self.epsilon * self.decay)
        return agent, explored, epsilon


class NoExploration(EpsilonGreedy):
    """Always the program's choice (ε = 0)."""

    def __init__(self) -> None:
        super().__init__(0.0, 1.0, 0.0)
