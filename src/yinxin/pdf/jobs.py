"""The ``jobs`` value of batch verification, checked without importing the verifier.

``yinxin verify FILE --jobs N`` refuses a bad ``N`` with one file too, and that file may be an
OFD, which never needs pyHanko's validator: :mod:`yinxin.pdf.batch` imports it (~0.3 s at a
command's start), this module imports nothing of the PDF engine. ``batch.resolve_jobs`` checks
with :func:`check_jobs` and then makes ``0`` (automatic) concrete.
"""

from __future__ import annotations

from yinxin.errors import ValidationError

#: ``jobs`` above this is refused as a mistake (a typo, a file count) rather than obeyed: each
#: worker is a process holding pyHanko and its own caches.
MAX_JOBS = 256


def check_jobs(jobs: int) -> int:
    """``jobs`` itself, or a refusal naming ``jobs``: a whole number from 0 (automatic) to
    :data:`MAX_JOBS` (a ``bool`` is not a number of processes)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 0 <= jobs <= MAX_JOBS:
        raise ValidationError(
            f"jobs must be a whole number from 0 (automatic) to {MAX_JOBS}, not {jobs!r}",
            field="jobs",
        )
    return jobs


__all__ = ["MAX_JOBS", "check_jobs"]
