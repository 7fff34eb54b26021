"""The agreements a subscriber accepts, shipped as text with the package (000/001 seeds).

Kept in the core layer, apart from the registry, so printing the agreement needs no database.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources


@dataclass(frozen=True)
class Agreement:
    name: str
    version: str
    text: str
    sha256: str = field(init=False)  # of the UTF-8 text: what an acceptance records

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.text.encode("utf-8")).hexdigest())


@functools.cache
def current_agreement() -> Agreement:
    """The agreement text ships with the package; read once per process."""
    text = resources.files("yinxin.agreements").joinpath("subscriber-v1.md").read_text("utf-8")
    return Agreement("subscriber", "1", text)
