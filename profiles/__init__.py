"""Technique presets, treatment zones and needles, and the safety envelope they must fit."""

from profiles.envelope import ENVELOPE, SafetyEnvelope
from profiles.errors import EnvelopeError, PresetFileError, ProfileError, UnknownNameError
from profiles.files import FILE_LIMITS, FileLimits
from profiles.loader import Catalog, load_catalog, parse_preset
from profiles.model import Delivery, Needle, Preset, Source, Syringe, Zone

__all__ = [
    "ENVELOPE", "FILE_LIMITS", "Catalog", "Delivery", "EnvelopeError", "FileLimits", "Needle",
    "Preset", "PresetFileError", "ProfileError", "SafetyEnvelope", "Source", "Syringe",
    "UnknownNameError", "Zone", "load_catalog", "parse_preset",
]
