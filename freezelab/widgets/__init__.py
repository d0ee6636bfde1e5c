"""ipywidgets panels: thin views over freezelab's pure functions."""
