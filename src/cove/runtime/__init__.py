"""OCI runtimes: the runtime spec cove writes, and a client for crun/runc.

This package never sees images, networks or the store: it gets a spec, a bundle path and
a container ID, and runs the runtime binary through the host's runner.
"""
