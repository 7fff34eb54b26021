"""The PDF engine: signing (PAdES, cross-page seal, anchors), verification and the report.

It stands alone: nothing here opens a database or knows ``Platform``. Keys arrive as
``yinxin.pki.keys.KeyHandle``, timestamps through a ``Timestamper``, trust as certificates, so a
relying party's ``yinxin verify --trust root.pem`` runs on a bare machine.
"""
