"""The Docker Engine API: wire shapes now; the server comes later."""
