"""Technique presets, treatment zones and needles, and the safety envelope they must fit."""

from profiles.envelope import ENVELOPE, SafetyEnvelope
from profiles.errors import (
    EnvelopeError, NameRuleError, PresetFileError, PresetUseError, ProfileError, UnknownNameError,
)
from profiles.files import FILE_LIMITS, FileLimits
from profiles.loader import Catalog, load_catalog, parse_preset
from profiles.model import Delivery, Needle, Preset, Source, Syringe, Zone
from profiles.names import NAME_RULE, check_name
from profiles.use import check_preset_use

__all__ = [
    "ENVELOPE", "FILE_LIMITS", "NAME_RULE", "Catalog", "Delivery", "EnvelopeError", "FileLimits",
    "NameRuleError", "Needle", "Preset", "PresetFileError", "PresetUseError", "ProfileError",
    "SafetyEnvelope", "Source", "Syringe", "UnknownNameError", "Zone", "check_name",
    "check_preset_use", "load_catalog", "parse_preset",
]
