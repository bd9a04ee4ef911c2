"""Tar layers: compression, a streaming tar reader, applying layers to a directory, writing tars."""
