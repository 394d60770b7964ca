"""What a protocol may say (pure): the pydantic model, its field values and units, the checks across
fields, safety limits and messages. Imports nothing of dosing but :mod:`dosing.errors`."""

from .model import Protocol, Regimen

__all__ = ["Protocol", "Regimen"]
