"""Matplotlib figures used by the notebooks and widgets, one module per lesson topic."""
