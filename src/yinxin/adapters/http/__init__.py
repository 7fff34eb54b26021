"""HTTP adapters: the status protocols (CRL, OCSP, RFC 3161) and, later, the JSON API."""
