"""The sandbox dataset: its model, the synthetic generator and the JSON file format.

One import point for callers; the pieces live in :mod:`sandbox_mis.models`,
:mod:`sandbox_mis.synth` and :mod:`sandbox_mis.fileformat`.
"""

from __future__ import annotations

from sandbox_mis.fileformat import dump, load
from sandbox_mis.models import Dataset, FlagStyle, School, Student
from sandbox_mis.synth import DEMO_SCHOOLS, DEMO_TOKEN, generate

__all__ = [
    "DEMO_SCHOOLS",
    "DEMO_TOKEN",
    "Dataset",
    "FlagStyle",
    "School",
    "Student",
    "dump",
    "generate",
    "load",
]
