"""Readers and writers at the edge: files in, files out. The domain core never imports these."""
