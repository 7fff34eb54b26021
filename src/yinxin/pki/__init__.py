"""The authority layer: builds and signs certificates, CRLs, OCSP and timestamp responses.

Nothing here touches the database or decides policy; it is handed a key, a profile and data.
"""
