"""Veiviser: a chat assistant for Norwegian exit-work practitioners."""

import os

# Rasa must never phone home, whatever entry point imports us first.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

__version__ = "0.1.0"
