"""Ground truth for training and evaluation: PAGE XML and ALTO pages with their images."""
