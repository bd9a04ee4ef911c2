"""Layered filesystems: one directory per layer, keyed by chainID, shared by all users.

The :class:`~cove.snapshots.snapshotter.Snapshotter` interface has two implementations:
``overlayfs`` (each snapshot holds only its own changes; containers get an overlay mount)
and ``copy`` (each snapshot is a full copy of its parent plus its changes; containers get
a bind mount), for hosts where overlayfs cannot be mounted.
"""
