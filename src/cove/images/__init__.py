"""Images: records and tags, import, unpack into snapshots, save and load, garbage collection."""
