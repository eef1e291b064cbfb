"""The one registry of model families: declared once, loaded at one place.

A **built-in** family is a folder under ``studio/models/`` whose package defines a subclass of
:class:`~studio.models.base.ExpressionModel` decorated with ``@register_model("family-name")``.
Nothing else names it: :func:`load_families` imports every subpackage of ``studio.models`` and
the decorator records the class. Adding a family is adding one folder.

A **plugin** family comes from an installed package, through an entry point in the
``expression_studio.families`` group whose name is the family name and whose value is the class
(``pkg.module:MyModel``, registered under the entry point's name) or a module that registers it
with the decorator::

    [project.entry-points."expression_studio.families"]
    my-lab = "my_lab_studio.model:MyLabModel"

:func:`load_families` runs once per process, on first use. Each family is imported on its own:
one that raises is recorded with its error (:class:`FamilyStatus`) and the others still load.
Family modules keep heavy imports (torch, transformers) inside functions, so loading is cheap.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import MappingProxyType
from typing import TypeVar

from studio.formats.errors import describe
from studio.models.base import FAMILY_NAME, ExpressionModel, ModelError

ENTRY_POINT_GROUP = "expression_studio.families"
BUILTIN_PACKAGE = "studio.models"
BUILTIN = "built-in"  # FamilyStatus.source of a family that ships with the studio

ModelClass = TypeVar("ModelClass", bound=type[ExpressionModel])


@dataclass(frozen=True)
class FamilyStatus:
    """One family: where it comes from (``built-in`` or the distribution's name), the module or
    entry point target that provides it, and why it failed to load when it did."""

    name: str
    source: str
    target: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN


_classes: dict[str, type[ExpressionModel]] = {}
_statuses: dict[str, FamilyStatus] = {}
_loaded = False


def register_model(family: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator adding ``family`` to the registry.

    Raises ``ValueError`` for an invalid or already registered name and ``TypeError`` for a class
    that is not an :class:`ExpressionModel` subclass with its own ``from_spec`` and ``generate``.
    """
    if not FAMILY_NAME.match(family):
        raise ValueError(f"{family!r} is not a valid family name (lowercase letters, digits, '-', '_', '.')")

    def decorate(cls: ModelClass) -> ModelClass:
        if family in _classes:
            raise ValueError(
                f"model family {family!r} is already registered by {_classes[family].__qualname__}"
            )
        if not (isinstance(cls, type) and issubclass(cls, ExpressionModel)):
            raise TypeError(
                f"{getattr(cls, '__qualname__', cls)!r} must subclass studio.models.ExpressionModel"
            )
        if cls.from_spec is ExpressionModel.from_spec or cls.generate is ExpressionModel.generate:
            raise TypeError(f"{cls.__qualname__} must define from_spec() and generate()")
        cls.family = family
        _classes[family] = cls
        return cls

    return decorate


def load_families(*, refresh: bool = False) -> Mapping[str, FamilyStatus]:
    """Import every built-in family folder and every installed plugin (once per process unless
    ``refresh``); never raises. Returns family name -> status, built-ins first; a plugin refused
    because its name is taken is listed as ``"name (from distribution)"``."""
    global _loaded
    if _loaded and not refresh:
        return MappingProxyType(_statuses)
    _loaded = True
    for name in [name for name, status in _statuses.items() if not status.builtin]:
        del _statuses[name]  # rediscovered below, or gone with its package
    package = importlib.import_module(BUILTIN_PACKAGE)
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg):
        _load_builtin(f"{BUILTIN_PACKAGE}.{module}")
    points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    for point in sorted(points, key=lambda p: (p.name, p.value)):
        status = _load_plugin(point)
        taken = point.name in _statuses and _statuses[point.name].target != status.target
        # a plugin refused for a name already taken is listed beside the family that holds it
        _statuses[f"{point.name} (from {status.source})" if taken else point.name] = status
    ordered = sorted(_statuses.items(), key=lambda item: (not item[1].builtin, item[0]))
    _statuses.clear()
    _statuses.update(ordered)
    return MappingProxyType(_statuses)


def family_class(family: str) -> type[ExpressionModel]:
    """The class registered for ``family``; :class:`ModelError` names the known ones or says why
    this one failed to load."""
    statuses = load_families()
    if family in _classes:
        return _classes[family]
    status = statuses.get(family)
    if status is not None and status.error:
        raise ModelError(f"model family {family!r} failed to load: {status.error}")
    raise ModelError(f"unknown model family {family!r}; known: {', '.join(family_names())}")


def family_names() -> list[str]:
    """The families that loaded, sorted."""
    load_families()
    return sorted(_classes)


def _load_builtin(module: str) -> None:
    before = set(_classes)
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken built-in (a missing optional dependency) is that family's
        name = module.rsplit(".", 1)[1].replace("_", "-")
        _statuses.setdefault(name, FamilyStatus(name, BUILTIN, module, f"import failed: {describe(exc)}"))
        return
    for name in sorted(set(_classes) - before):
        _statuses[name] = FamilyStatus(name, BUILTIN, module)


def _load_plugin(point: metadata.EntryPoint) -> FamilyStatus:
    dist = getattr(point, "dist", None)
    name = point.name
    status = FamilyStatus(name, dist.name if dist is not None else point.value, point.value)

    def failed(reason: str) -> FamilyStatus:
        return FamilyStatus(status.name, status.source, status.target, reason)

    if not FAMILY_NAME.match(name):
        return failed(f"{name!r} is not a valid family name (lowercase letters, digits, '-', '_', '.')")
    known = _statuses.get(name)
    if known is not None and known.builtin:
        return failed(f"family {name!r} is built into the studio; a plugin cannot replace it")
    if known is not None and known.target != point.value:
        return failed(f"family {name!r} is already provided by {known.target}")
    if name in _classes:  # loaded before (a refresh)
        return status
    try:
        loaded = point.load()
    except (Exception, SystemExit) as exc:
        return failed(f"import failed: {describe(exc)}")
    if isinstance(loaded, type) and name not in _classes:
        try:
            register_model(name)(loaded)
        except (TypeError, ValueError) as exc:
            return failed(str(exc))
    if name not in _classes:
        return failed(
            f"{point.value} registered no family named {name!r}: decorate the class with "
            f"@register_model({name!r}) or point the entry point at the class"
        )
    return status
