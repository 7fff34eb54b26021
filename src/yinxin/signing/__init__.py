"""Signing documents with seals: PAdES signatures on PDF contracts, and checking them."""
