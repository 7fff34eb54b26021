"""Where ``x``/``y`` put the seal, said the same way everywhere a position is taken.

A PDF placement (``sign pdf``, ``sign batch``, ``sign local``, ``sign ses-pdf``, a flow's
``--signer …,x=,y=``, the API's ``PlacementIn`` / ``SesPdfPlacementIn``) is the seal's
lower-left corner in mm from the page's lower-left corner; an OFD placement (``ofd sign``,
``sign ofd``, the API's ``OfdPlacementIn``) is the seal's centre in mm from the page's top-left
corner (OFD's own coordinates). The same numbers put the seal in different places, so every
help text must say which, and say it in the same words for the same meaning."""

from __future__ import annotations

from typer.main import get_command

from tests.cli_tree import leaves
from yinxin.adapters.cli import app
from yinxin.adapters.cli.common import OFD_X_HELP, OFD_Y_HELP, PDF_X_HELP, PDF_Y_HELP

PDF = {"sign pdf", "sign batch", "sign local", "sign ses-pdf"}
OFD = {"ofd sign", "sign ofd"}


def test_the_texts_state_corner_point_and_unit() -> None:
    for text in (PDF_X_HELP, PDF_Y_HELP):
        assert "lower-left corner" in text and "mm" in text
    assert "left edge" in PDF_X_HELP and "bottom edge" in PDF_Y_HELP
    for text in (OFD_X_HELP, OFD_Y_HELP):
        assert "centre" in text and "mm" in text and "top-left corner" in text
    assert "left edge" in OFD_X_HELP and "top edge" in OFD_Y_HELP


def test_every_x_y_option_states_its_meaning_in_the_same_words() -> None:
    seen: dict[str, tuple[str | None, str | None]] = {}
    for where, command in leaves(get_command(app)):
        helps = {p.name: getattr(p, "help", None) for p in command.params}
        if "x" in helps or "y" in helps:
            seen[where] = (helps.get("x"), helps.get("y"))
    assert set(seen) == PDF | OFD, sorted(seen)
    for where in PDF:
        assert seen[where] == (PDF_X_HELP, PDF_Y_HELP), where
    for where in OFD:
        assert seen[where] == (OFD_X_HELP, OFD_Y_HELP), where


def test_a_flow_signer_says_what_x_and_y_are() -> None:
    from yinxin.adapters.cli.flows import SIGNER_HELP

    assert "x, y: the seal's lower-left corner, mm from the page's lower-left corner" in (
        SIGNER_HELP
    )


def test_the_api_schemas_state_the_same_meaning() -> None:
    from yinxin.adapters.http.api.routes.documents import PlacementIn
    from yinxin.adapters.http.api.routes.ofd_signing import OfdPlacementIn, SesPdfPlacementIn

    for model in (PlacementIn, SesPdfPlacementIn):
        props = model.model_json_schema()["properties"]
        assert props["x_mm"]["description"] == PDF_X_HELP.replace("--anchor", "anchor"), model
        assert props["y_mm"]["description"] == PDF_Y_HELP.replace("--anchor", "anchor"), model
    props = OfdPlacementIn.model_json_schema()["properties"]
    assert props["x_mm"]["description"] == OFD_X_HELP
    assert props["y_mm"]["description"] == OFD_Y_HELP


def test_every_anchor_option_says_where_the_seal_goes_on_the_text() -> None:
    """``--anchor`` said "Centre the seal on this text" everywhere, but a PDF seal goes over
    the text's end (over 签章） and the blank after it, as a paper seal is stamped; --x/--y
    shift it) while an OFD seal is centred on the text (and --x/--y are refused beside it)."""
    from yinxin.adapters.cli.common import OFD_ANCHOR_HELP, PDF_ANCHOR_HELP

    seen = {}
    for where, command in leaves(get_command(app)):
        helps = {p.name: getattr(p, "help", None) for p in command.params}
        if "anchor" in helps and where in PDF | OFD:
            seen[where] = helps["anchor"]
    assert set(seen) == PDF | OFD, sorted(seen)
    for where in PDF:
        assert seen[where] == PDF_ANCHOR_HELP, where
    for where in OFD:
        assert seen[where] == OFD_ANCHOR_HELP, where
    assert "end of this text" in PDF_ANCHOR_HELP and "shift" in PDF_ANCHOR_HELP
    assert "Centre" in OFD_ANCHOR_HELP and "not with --x/--y" in OFD_ANCHOR_HELP
