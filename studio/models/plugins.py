"""Model families from other packages, found through the ``expression_studio.families`` entry points.

A package adds a family by declaring an entry point whose name is the family name and whose
value is the module that registers it (``pkg.module``) or the class itself
(``pkg.module:MyModel``; it is registered under the entry point's name)::

    [project.entry-points."expression_studio.families"]
    my-lab = "my_lab_studio.model:MyLabModel"

:func:`discover_plugins` runs once per process, the first time a config names a family the
studio does not ship (and in ``models list``). Each plugin is imported on its own: one that
raises is recorded as failed with its error and the others still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from studio.models import base

ENTRY_POINT_GROUP = "expression_studio.families"
BUILTIN_FAMILIES = frozenset(base.FAMILY_MODULES)


@dataclass(frozen=True)
class PluginStatus:
    """One discovered entry point: the family it provides, where from, and why it failed if it did."""

    family: str
    target: str  # the entry point's value, "module" or "module:attribute"
    distribution: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_discovered: tuple[PluginStatus, ...] | None = None


def discover_plugins(*, refresh: bool = False) -> tuple[PluginStatus, ...]:
    """Import every installed family plugin (once per process unless ``refresh``); never raises."""
    global _discovered
    if _discovered is None or refresh:
        points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        _discovered = tuple(_load(point) for point in sorted(points, key=lambda p: (p.name, p.value)))
    return _discovered


def _load(point: metadata.EntryPoint) -> PluginStatus:
    dist = getattr(point, "dist", None)
    status = PluginStatus(point.name, point.value, dist.name if dist is not None else None)

    def failed(reason: str) -> PluginStatus:
        return PluginStatus(status.family, status.target, status.distribution, reason)

    name = point.name
    if not base.FAMILY_NAME.match(name):
        return failed(f"{name!r} is not a valid family name (lowercase letters, digits, '-', '_', '.')")
    if name in BUILTIN_FAMILIES:
        return failed(f"family {name!r} is built into the studio; a plugin cannot replace it")
    if name in base.registered_families():  # discovered before (refresh), or two plugins claim it
        if base.FAMILY_MODULES.get(name) == point.module:
            return status
        return failed(f"family {name!r} is already provided by {base.FAMILY_MODULES.get(name)}")
    try:
        loaded = point.load()
    except (Exception, SystemExit) as exc:
        return failed(f"import failed: {type(exc).__name__}: {exc}")
    if isinstance(loaded, type) and name not in base.registered_families():
        try:
            base.register_model(name)(loaded)
        except (TypeError, ValueError) as exc:
            return failed(str(exc))
    if name not in base.registered_families():
        return failed(
            f"{point.value} registered no family named {name!r}: decorate the class with "
            f"@register_model({name!r}) or point the entry point at the class"
        )
    base.FAMILY_MODULES[name] = point.module
    return status
