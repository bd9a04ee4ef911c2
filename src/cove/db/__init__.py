"""SQLite (WAL) persistence shared by the L2 subsystems: one schema, many tables.

Each subsystem owns the queries on its own tables (snapshots/ on ``snapshots``, images/
on ``images`` and ``tags``, ...); this package only opens the database, migrates its
schema and runs transactions.
"""
