"""Yinxin (印信): electronic certification and electronic seal platform."""

__version__ = "0.1.0"
