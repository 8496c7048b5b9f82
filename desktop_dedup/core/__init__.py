"""Qt-free engine: scan -> decode -> embed -> index -> group -> act.

Nothing under this package imports Qt; it imports and runs without a display.
"""
