"""The only layer that runs subprocesses, mounts, enters namespaces and takes locks."""
