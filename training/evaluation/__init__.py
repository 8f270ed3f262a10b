"""The evaluation of any OCR engine against ground truth (``quire eval``).

- ``metrics``: the pure maths: edit distance, box IoU, one-to-one line matching, bags of words,
  pooled ratios.
- ``runner``: an engine over ground-truth pages, timed and scored page by page.
- ``report``: the per-page rows and pooled totals, as JSON and as a table.

Takes any object with ``name`` and ``run(pages)`` (the worker's engines fit); imports
``shared`` only.
"""
