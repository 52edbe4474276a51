"""Figures (matplotlib, drawn on an off-screen canvas: the user's pyplot backend is not touched)."""
