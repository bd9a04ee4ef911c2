"""The content store: blobs addressed by their sha256 digest."""
