"""The image builder: Dockerfile instructions and what they do to an image."""
