"""vlmaudit: audit vision-language models for the failure modes research has documented."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vlmaudit.models.base import ImageTextModel


def load_model(spec: str = "builtin:scenes", *, device: str = "cpu", dtype: str = "fp32") -> ImageTextModel:
    """Load a model from a spec string ("hf:...", "openclip:...", "builtin:...")."""
    from vlmaudit.models import load_model as _load

    return _load(spec, device=device, dtype=dtype)


def run(*args: Any, **kwargs: Any) -> Any:
    """Run suites programmatically; same options as `vlmaudit run` (see vlmaudit.runner.run)."""
    from vlmaudit.runner import run as _run

    return _run(*args, **kwargs)
