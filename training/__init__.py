"""Training and evaluation: synthetic pages, datasets from PAGE XML / ALTO, the detector and
recognizer trainers, and the evaluation of any engine against ground truth.

Imports ``shared`` only; the worker and the CLI import it, the API never does.
"""
