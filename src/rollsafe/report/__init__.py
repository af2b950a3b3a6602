"""Renderers: a run (or runs) becomes one summary dict; JSON prints it, text draws it with rich."""
