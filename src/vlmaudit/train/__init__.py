"""One contrastive trainer (`Trainer`) plus the recipes built on it (the built-in model, fine-tunes)."""

from vlmaudit.train.evaluate import evaluate_builtin
from vlmaudit.train.losses import clip_loss, sigmoid_loss
from vlmaudit.train.trainer import Batch, BatchSource, TrainConfig, Trainer, TrainResult

__all__ = [
    "Batch",
    "BatchSource",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "clip_loss",
    "evaluate_builtin",
    "sigmoid_loss",
]
