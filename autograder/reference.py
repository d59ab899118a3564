"""Import the reference ``optimlab`` from ``solutions/``, and only from there."""

import importlib
import sys
from types import ModuleType

from .paths import PACKAGE, SOLUTIONS


def load() -> ModuleType:
    """The reference package. Fails if another ``optimlab`` (a student's copy, say) was imported first."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is None:
        sys.path.insert(0, str(SOLUTIONS))
        try:
            loaded = importlib.import_module(PACKAGE)
        finally:
            sys.path.remove(str(SOLUTIONS))
    if not loaded.__file__.startswith(str(SOLUTIONS)):
        raise ImportError(f"{PACKAGE} was already imported from {loaded.__file__}, not from {SOLUTIONS}")
    return loaded


def function(module: str, name: str):
    """The reference implementation ``optimlab.<module>.<name>``."""
    load()
    return getattr(importlib.import_module(f"{PACKAGE}.{module}"), name)
