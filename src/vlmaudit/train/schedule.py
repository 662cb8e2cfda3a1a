"""Learning-rate schedule as a pure function of the step.

Driven by steps, never wall time, so the same seed gives the same weights on a busy machine, and a
resumed run needs no scheduler state: the rate at step s is recomputed from s.
"""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int, base_lr: float, final_ratio: float = 0.0) -> float:
    """Linear warmup from ~0 to base_lr over `warmup` steps, then cosine down to final_ratio * base_lr."""
    if total <= 0:
        raise ValueError("total steps must be positive")
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = base_lr * final_ratio
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
