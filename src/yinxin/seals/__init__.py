"""Electronic seals: ``service.Seals`` is the door; its docstring maps the parts behind it."""
