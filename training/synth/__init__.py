"""Synthetic handwriting: fonts, text, line and page rendering, PAGE XML output.

``quire synth pages|lines`` (cli/synth_cmd.py) drives it; ``make fonts`` fills the font cache.
"""
