"""Line recognizers quire trains: a compact CRNN-CTC (CPU, from scratch) and TrOCR (GPU)."""
