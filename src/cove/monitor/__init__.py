"""The per-container monitor: a small process that supervises one container.

It outlives the ``cove`` command that started the container: it holds the container's
stdio (pipes or the pty), writes the logs, serves attach, stop, kill and wait requests on
a unix socket, records the exit, runs health checks and applies the restart policy.
Modules here use only the standard library and cove's lowest layers, so the monitor
starts fast and stays small (``python -S -I .../cove/monitor/main.py``).
"""
