"""Named volumes: directories cove manages under ``volumes/<name>/_data``."""
