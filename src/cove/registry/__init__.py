"""The OCI distribution client: talks to registries, yields descriptors and streams.

It never writes the store: pulls and pushes (``cove.images.pull``/``push``) decide what
to fetch or send and where it goes.
"""
