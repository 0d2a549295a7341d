"""Every exception class tapeflow defines derives from the one root, ``TapeflowError``."""

import importlib
import inspect
import pkgutil

import tapeflow
from tapeflow.config.errors import ConfigError
from tapeflow.model.errors import TapeflowError
from tapeflow.store.owner import StoreBusyError
from tapeflow.store.pool import UnknownSymbolError


def _exception_classes() -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in a module of the package."""
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(tapeflow.__path__, "tapeflow."):
        if info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        found.extend(
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, BaseException)
            and obj.__module__ == module.__name__
        )
    return found


def test_every_exception_class_derives_from_tapeflow_error() -> None:
    classes = _exception_classes()
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
    # The walk reaches every layer: a store, an execution and a config error among them.
    assert {
        "tapeflow.store.migrations.SchemaError",
        "tapeflow.execution.errors.OrderRejected",
        "tapeflow.config.errors.ConfigError",
    } <= names
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if not issubclass(cls, TapeflowError)
    )
    assert outside == []


def test_builtins_stay_mixed_in_for_callers_that_catch_them() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(UnknownSymbolError, KeyError)
    assert issubclass(StoreBusyError, RuntimeError)
