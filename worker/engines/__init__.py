"""OCR engines: a detector and a recognizer composed into one engine, chosen by name."""
