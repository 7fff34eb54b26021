"""asn1crypto fills a class's lookup tables on first use after publishing them empty, so two
threads meeting a class for the first time at once could read a half-filled table (a failed
timestamp under eight concurrent clients). ``warm_asn1`` sets every loaded class up first."""

from __future__ import annotations

from asn1crypto import cms, core, tsp

from yinxin.pki.der import warm_asn1


def test_every_loaded_class_is_set_up_before_threads_share_it():
    for cls in (cms.ContentType, tsp.TSTInfo):
        core._SETUP_CLASSES.pop(cls, None)
    cms.ContentType._reverse_map = None
    assert warm_asn1() >= 2
    assert cms.ContentType in core._SETUP_CLASSES and tsp.TSTInfo in core._SETUP_CLASSES
    # the whole table, not a part of it: every name maps back to its OID
    assert cms.ContentType._reverse_map == {v: k for k, v in cms.ContentType._map.items()}
    assert cms.ContentType("tst_info").dotted == "1.2.840.113549.1.9.16.1.4"
    assert warm_asn1() == 0  # nothing left to set up
