"""Stacks to volumes: frames decoded (slow codecs in worker processes), rescaled and written
into one array with its affine."""
