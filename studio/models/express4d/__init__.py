"""The ``express4d`` family (Express4D's MDM checkpoints): importing this module registers it.

See :mod:`studio.models.express4d.model`; torch and transformers are imported only when a model
is built.
"""

from studio.models.express4d.model import Express4DModel

__all__ = ["Express4DModel"]
