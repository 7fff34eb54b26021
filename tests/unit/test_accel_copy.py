"""``accel._copy`` must make exactly what ``copy.copy`` makes of every primitive PDF type.

The batch verifier hands each reader a copy of a shared parsed object (``accel._rehome``); its
primitives were copied with ``copy.copy`` and now with a direct constructor call. If pyHanko
adds a primitive type or state to one, or a copy ever shared the original, a report could
change, so the two are compared on every type ``_rehome`` copies, with the state parsing sets.
"""

from __future__ import annotations

import copy

import pytest
from pyhanko.pdf_utils import generic

from yinxin.pdf import accel


def _samples() -> list[generic.PdfObject]:
    text = generic.TextStringObject("合同专用章")
    text.autodetected_encoding = generic.TextStringEncoding.UTF16BE
    text.force_output_encoding = generic.TextStringEncoding.UTF16BE
    return [
        generic.NumberObject(-17),
        generic.NumberObject(2**70),
        generic.NameObject("/Type"),
        text,
        generic.TextStringObject("plain"),
        generic.ByteStringObject(b"\x00\xffab"),
        generic.BooleanObject(True),
        generic.BooleanObject(False),
        generic.NullObject(),
    ]


def test_every_primitive_type_is_listed() -> None:
    assert {type(s) for s in _samples()} == set(accel._PRIMITIVES)


@pytest.mark.parametrize("obj", _samples(), ids=lambda o: f"{type(o).__name__}:{o!r}"[:40])
def test_copy_is_copy_copy(obj: generic.PdfObject) -> None:
    obj.container_ref = generic.Reference(7, 0)
    ours = accel._copy(obj, type(obj), accel._PRIMITIVES[type(obj)])
    ref = copy.copy(obj)
    assert type(ours) is type(ref) is type(obj)
    assert ours is not obj
    assert ours.__dict__ == ref.__dict__ == obj.__dict__
    assert ours.__dict__ is not obj.__dict__
    if not isinstance(obj, generic.BooleanObject | generic.NullObject):
        assert ours == ref == obj
    # the copy is independent: rebinding it (as _rehome does) leaves the original alone
    ours.container_ref = generic.Reference(9, 0)
    assert obj.container_ref == generic.Reference(7, 0)
