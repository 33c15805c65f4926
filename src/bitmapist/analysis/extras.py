"""Optional dependencies, imported only when a feature needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError

__all__ = ["optional"]


def optional(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or say which extra of bitmapist provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{feature} needs {module.partition('.')[0]}, which is not installed: "
            f"pip install 'bitmapist[{extra}]'"
        ) from error
