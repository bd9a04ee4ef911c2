"""Images made on this machine, with no registry: busybox from busybox-static, Debian by mmdebstrap.

``busybox`` is cove's embedded default image: a root filesystem holding the host's static
busybox binary and a hard link per applet, plus the few files a shell expects. It is
built deterministically (fixed times, sorted entries), so the same binary always gives
the same image ID.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cove.archive.tarwrite import TarWriter
from cove.content.store import ContentStore
from cove.errors import FailedPrecondition, InvalidArgument, Unavailable
from cove.host.elf import is_static
from cove.host.runner import Runner
from cove.images.importer import ImportedImage, import_rootfs, new_config, store_image
from cove.images.store import ImageStore
from cove.images.unpack import Unpacker
from cove.oci import mediatypes as mt
from cove.oci.digest import Digest
from cove.oci.image import Descriptor, Manifest
from cove.oci.platform import host_platform
from cove.oci.reference import Reference
from cove.progress import Progress, ProgressEvent, no_progress
from cove.snapshots.snapshotter import Snapshotter

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
DEBIAN_SUITES = ("bookworm", "bullseye", "trixie", "sid", "stable", "testing", "unstable", "oldstable")

_PASSWD = b"""root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = b"""root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
mail:x:8:
wheel:x:10:root
www-data:x:33:
users:x:100:
nogroup:x:65534:
"""
_DIRS = {
    "bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
    "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
    "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755, "var/www": 0o755,
}  # fmt: skip


def find_busybox(explicit: Path | None = None) -> Path:
    candidates = (explicit,) if explicit else BUSYBOX_CANDIDATES
    for path in candidates:
        if path is not None and path.is_file():
            if not is_static(path):
                raise FailedPrecondition(
                    f"{path} is not statically linked, so it cannot run alone in an image",
                    hint="install Debian's busybox-static package (apt-get install busybox-static)",
                )
            return path
    raise Unavailable(
        "busybox is not installed on this host",
        hint="install Debian's busybox-static package (apt-get install busybox-static)",
    )


@dataclass(frozen=True)
class BusyboxLayer:
    tar: bytes
    version: str
    mtime: float


def busybox_layer(binary: Path, runner: Runner) -> BusyboxLayer:
    applets = runner.run([str(binary), "--list-full"]).stdout.decode().split()
    banner = runner.run([str(binary)], check=False).stdout.decode().splitlines()
    version = banner[0].split(" multi-call")[0] if banner else "BusyBox"
    mtime = int(binary.stat().st_mtime)
    buf = io.BytesIO()
    tar = TarWriter(buf, mtime=mtime)
    for name in sorted(_DIRS):
        tar.add_dir(name, _DIRS[name])
    with open(binary, "rb") as f:
        tar.add_stream("bin/busybox", binary.stat().st_size, f, mode=0o755)
    seen = {"bin/busybox"}
    for applet in sorted(set(applets)):
        path = applet.strip("/")
        if path in seen or path.split("/")[0] not in ("bin", "sbin", "usr") or ".." in path:
            continue
        seen.add(path)
        link = tarfile.TarInfo(path)
        link.type = tarfile.LNKTYPE
        link.linkname = "bin/busybox"
        link.mode = 0o755
        link.mtime = mtime
        tar.add_entry(link)
    tar.add_bytes("etc/group", _GROUP)
    tar.add_bytes("etc/passwd", _PASSWD)
    tar.close()
    return BusyboxLayer(buf.getvalue(), version, mtime)


def bootstrap_busybox(
    *,
    content: ContentStore,
    images: ImageStore,
    unpacker: Unpacker,
    runner: Runner,
    tag: Reference,
    binary: Path | None = None,
    progress: Progress = no_progress,
) -> ImportedImage:
    path = find_busybox(binary)
    progress(ProgressEvent(tag.familiar(), f"Building from {path}"))
    layer = busybox_layer(path, runner)
    diff_id = Digest.of(layer.tar)
    blob = gzip.compress(layer.tar, compresslevel=6, mtime=0)
    blob_digest = content.put(blob)
    created = datetime.fromtimestamp(layer.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = new_config(
        [diff_id],
        created=created,
        container_config={"Env": [DEFAULT_PATH], "Cmd": ["sh"]},
        history=[{"created": created, "created_by": f"cove image bootstrap busybox ({layer.version})"}],
    )
    layers = [Descriptor(mt.OCI_LAYER_GZIP, blob_digest, len(blob))]
    config_bytes = config.to_bytes()
    manifest = Manifest(
        mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, Digest.of(config_bytes), len(config_bytes)), tuple(layers)
    )
    size = unpacker.unpack(manifest, config, progress)
    result = store_image(content, images, config, layers, size=size, tags=[tag])
    progress(ProgressEvent(tag.familiar(), "Done"))
    return result


def bootstrap_debian(
    *,
    content: ContentStore,
    images: ImageStore,
    snapshotter: Snapshotter,
    unpacker: Unpacker,
    runner: Runner,
    tag: Reference,
    suite: str,
    work_dir: Path,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    progress: Progress = no_progress,
) -> ImportedImage:
    if suite not in DEBIAN_SUITES:
        raise InvalidArgument(
            f"unknown Debian suite {suite!r}", hint=f"use one of: {', '.join(DEBIAN_SUITES)}"
        )
    if shutil.which("mmdebstrap") is None:
        raise Unavailable("mmdebstrap is not installed", hint="apt-get install mmdebstrap")
    arch = host_platform().architecture
    name = f"debian-{suite}-minbase-{arch}.tar"
    tarball = (cache_dir / name) if cache_dir else None
    made_here: Path | None = None
    if tarball is None or not tarball.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        made_here = work_dir / f"{secrets.token_hex(6)}-{name}"
        progress(ProgressEvent(tag.familiar(), f"Running mmdebstrap --variant=minbase {suite}"))
        argv = ["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet", suite, str(made_here)]
        if mirror:
            argv.append(mirror)
        try:
            runner.run(argv)
        except BaseException:
            made_here.unlink(missing_ok=True)
            raise
        if tarball is not None:
            tarball.parent.mkdir(parents=True, exist_ok=True)
            os.replace(made_here, tarball)
            made_here = None
        else:
            tarball = made_here
    try:
        with open(tarball, "rb") as f:
            return import_rootfs(
                f,
                content=content,
                images=images,
                snapshotter=snapshotter,
                unpacker=unpacker,
                tags=[tag],
                container_config={"Env": [DEFAULT_PATH], "Cmd": ["bash"]},
                comment=f"mmdebstrap --variant=minbase {suite}",
                total=tarball.stat().st_size,
                progress=progress,
            )
    finally:
        if made_here is not None:
            made_here.unlink(missing_ok=True)
