"""The database schema as an ordered list of migrations (``PRAGMA user_version``)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: images, snapshots and the containers that hold images in use
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE images (
        id                  TEXT PRIMARY KEY,   -- config digest, Docker's image ID
        manifest_digest     TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        size                INTEGER NOT NULL,   -- bytes of file contents in all layers
        created             TEXT,               -- from the image config
        added               REAL NOT NULL       -- when this store got it
    );
    CREATE TABLE tags (
        name     TEXT PRIMARY KEY,              -- normalised: docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        tagged   REAL NOT NULL
    );
    CREATE INDEX tags_by_image ON tags(image_id);
    CREATE TABLE repo_digests (
        name     TEXT PRIMARY KEY,              -- repository@sha256:...
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX repo_digests_by_image ON repo_digests(image_id);
    CREATE TABLE layers (
        digest            TEXT PRIMARY KEY,     -- the blob as stored (maybe compressed)
        diff_id           TEXT NOT NULL,        -- digest of the plain tar
        uncompressed_size INTEGER NOT NULL
    );
    CREATE TABLE snapshots (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        key       TEXT NOT NULL UNIQUE,         -- chainID when committed
        parent_id INTEGER REFERENCES snapshots(id),
        kind      TEXT NOT NULL CHECK (kind IN ('preparing', 'active', 'committed')),
        created   REAL NOT NULL,
        size      INTEGER NOT NULL DEFAULT 0,   -- bytes of file contents
        usage     INTEGER NOT NULL DEFAULT 0    -- bytes on disk
    );
    CREATE INDEX snapshots_by_parent ON snapshots(parent_id);
    CREATE TABLE containers (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        image_id     TEXT NOT NULL,             -- not a foreign key: rmi -f may outlive it
        image_ref    TEXT NOT NULL,
        snapshot_key TEXT NOT NULL,
        state        TEXT NOT NULL,
        created      REAL NOT NULL,
        config       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX containers_by_image ON containers(image_id);
    """,
    # 2: volumes, and which containers use them
    """
    CREATE TABLE volumes (
        name      TEXT PRIMARY KEY,
        driver    TEXT NOT NULL DEFAULT 'local',
        labels    TEXT NOT NULL DEFAULT '{}',
        options   TEXT NOT NULL DEFAULT '{}',
        anonymous INTEGER NOT NULL DEFAULT 0,
        created   REAL NOT NULL
    );
    CREATE TABLE container_volumes (
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        volume       TEXT NOT NULL REFERENCES volumes(name),
        destination  TEXT NOT NULL,
        PRIMARY KEY (container_id, destination)
    );
    CREATE INDEX container_volumes_by_volume ON container_volumes(volume);
    ALTER TABLE containers ADD COLUMN runtime TEXT NOT NULL DEFAULT '';
    """,
    # 3: where a blob is known to exist in registries, for cross-repository mounts on push
    """
    CREATE TABLE blob_sources (
        digest     TEXT NOT NULL,
        registry   TEXT NOT NULL,
        repository TEXT NOT NULL,
        seen       REAL NOT NULL,
        PRIMARY KEY (digest, registry, repository)
    );
    """,
    # 4: bridge networks and the containers' endpoints on them
    """
    CREATE TABLE networks (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        driver   TEXT NOT NULL,
        bridge   TEXT NOT NULL UNIQUE,
        subnet   TEXT NOT NULL,
        gateway  TEXT NOT NULL,
        ip_range TEXT NOT NULL,
        internal INTEGER NOT NULL DEFAULT 0,
        labels   TEXT NOT NULL DEFAULT '{}',
        options  TEXT NOT NULL DEFAULT '{}',
        created  REAL NOT NULL
    );
    CREATE TABLE endpoints (
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        network_id   TEXT NOT NULL REFERENCES networks(id),
        ip           TEXT NOT NULL,
        mac          TEXT NOT NULL,
        aliases      TEXT NOT NULL DEFAULT '[]',
        position     INTEGER NOT NULL,
        PRIMARY KEY (container_id, network_id),
        UNIQUE (network_id, ip)
    );
    CREATE INDEX endpoints_by_network ON endpoints(network_id);
    """,
    # 5: the builder's step cache: each step's result under its cache key
    """
    CREATE TABLE build_cache (
        key       TEXT PRIMARY KEY,
        parent    TEXT NOT NULL,
        step      TEXT NOT NULL,
        inputs    TEXT NOT NULL DEFAULT '',
        history   TEXT NOT NULL,
        layer     TEXT,
        diff_id   TEXT,
        chain_id  TEXT,
        size      INTEGER NOT NULL DEFAULT 0,
        created   REAL NOT NULL,
        last_used REAL NOT NULL
    );
    CREATE INDEX build_cache_by_parent ON build_cache(parent);
    """,
    # 6: content digests of build context files, by path, kept while their stat stays the same
    """
    CREATE TABLE file_digests (
        path   TEXT PRIMARY KEY,
        stamp  TEXT NOT NULL,
        digest TEXT NOT NULL,
        seen   REAL NOT NULL
    );
    """,
    # 7: a container's state is its monitor's record (containers/<id>/state.json) alone: the
    # column, written "running" at start and never again, only ever disagreed with it
    """
    ALTER TABLE containers DROP COLUMN state;
    """,
)
