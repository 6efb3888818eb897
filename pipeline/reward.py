"""The routing reward, as the seed defines it, with configurable weights.

reward = w_q·search_quality + w_s·agent_success + w_u·user_satisfaction − time penalty,
where the penalty grows linearly with processing time up to a cap. When satisfaction was not
reported, the other two weights are scaled up so the weights still sum to their total, so a
missing rating neither punishes nor rewards a decision. The result is clamped to [0, 1].
"""

from __future__ import annotations

from pipeline.config import RewardConfig


def compute_reward(
    search_quality: float,
    agent_success: float,
    user_satisfaction: float | None,
    processing_time_s: float,
    config: RewardConfig = RewardConfig(),
) -> float:
    wq, ws, wu = config.search_quality_weight, config.agent_success_weight, config.user_satisfaction_weight
    if user_satisfaction is None:
        scale = (wq + ws + wu) / (wq + ws)
        base = scale * (wq * search_quality + ws * agent_success)
    else:
        base = wq * search_quality + ws * agent_success + wu * user_satisfaction
    penalty = min(config.max_time_penalty, config.time_penalty_per_second * max(0.0, processing_time_s))
    return round(min(1.0, max(0.0, base - penalty)), 6)
