"""Container logs in Docker's json-file format: written with rotation, read from the end, followed."""
