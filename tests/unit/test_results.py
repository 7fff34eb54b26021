"""``results.from_row``: the one rule by which services build a view from its database row."""

from __future__ import annotations

import dataclasses
import enum
import types

import pytest

from yinxin.results import from_row


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class View:
    id: int
    name: str
    colour: Colour
    note: str = "none"
    derived: int = dataclasses.field(default=0, init=False)


def test_same_named_columns_are_copied_and_given_ones_win():
    row = types.SimpleNamespace(id=7, name="甲方", colour="red", note="kept", secret="x")
    view = from_row(View, row, colour=Colour(row.colour))
    assert view == View(7, "甲方", Colour.RED, "kept")
    assert not hasattr(view, "secret")  # a column the view does not declare never comes along


def test_a_default_stands_only_for_a_column_the_row_lacks():
    row = types.SimpleNamespace(id=1, name="乙方", colour="red")
    assert from_row(View, row, colour=Colour.RED).note == "none"


def test_a_field_neither_given_nor_on_the_row_is_an_error():
    row = types.SimpleNamespace(id=1, colour="red")
    with pytest.raises(AttributeError, match="name"):
        from_row(View, row, colour=Colour.RED)
