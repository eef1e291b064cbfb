"""The ``mdm`` family (Express4D's diffusion baseline): importing this module registers it.

See :mod:`studio.models.mdm.model` for the model and :mod:`studio.models.mdm.training` for the
recipe; torch is imported only when a model is built or trained.
"""

from studio.models.mdm.model import MDMModel

__all__ = ["MDMModel"]
