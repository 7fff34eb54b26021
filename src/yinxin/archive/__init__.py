"""Long-term archive: the signed documents the platform keeps, and their archive timestamps."""
