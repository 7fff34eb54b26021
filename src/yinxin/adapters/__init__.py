"""The edge: ``cli`` (the ``yinxin`` command, Typer) and ``http`` (CRL, OCSP, RFC 3161 over HTTP).

Adapters parse, call the services that ``yinxin.app`` builds, and render. Nothing else in the
package imports them (``tests/unit/test_layers.py`` keeps it so).
"""
