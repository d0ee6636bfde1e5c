"""The core of the course: layers, freezing, parameter counts, the recompile guard, pitfalls, models."""
