"""Cache keys of an unchanged Dockerfile stay what they were: a fully cached build stays fully
cached across changes to how Dockerfiles are read.

The keys below were computed by cove before its instructions were typed (commit 1b8d9ce), on
the recording backend of test_build_executor; if a change must alter one, say why in its commit.
(An instruction written over several lines is the exception: its text is now joined as BuildKit
joins it, which changed its key once. So is ``COPY --from``: its key took the list of files
it matched in the other stage, which needs that stage mounted; it now takes what identifies
the stage's files (its last key) with the sources as written, which fix that list, so a
cached multi-stage rebuild mounts nothing.)
"""

from __future__ import annotations

from pathlib import Path

from cove.build.context import Context
from cove.db.database import Database
from tests.unit.test_build_executor import RecordingBackend, build

DOCKERFILE = (
    "ARG BASE=base\n"
    "FROM $BASE AS build\n"
    "ARG V=1\n"
    'ENV A=1 B="two words"\n'
    "ENV OLD value here\n"
    'LABEL a=b "c d"=e\n'
    "WORKDIR /app\n"
    "USER 1000\n"
    "EXPOSE 80 53/udp\n"
    "VOLUME /data\n"
    'VOLUME ["/j"]\n'
    "STOPSIGNAL SIGINT\n"
    'HEALTHCHECK --interval=5s --retries=3 CMD ["true"]\n'
    "CMD echo hi\n"
    'ENTRYPOINT ["x"]\n'
    "ONBUILD RUN echo child\n"
    "COPY b.txt /b\n"
    "COPY --chown=1:2 --chmod=644 src/ /src/\n"
    "COPY <<EOF /here\n"
    "hello $V\n"
    "EOF\n"
    "RUN echo $V\n"
    "RUN --mount=type=cache,target=/c --network=none make\n"
    'RUN ["ls", "-l"]\n'
    "RUN <<EOF\n"
    "echo a\n"
    "EOF\n"
    "RUN python3 <<PY\n"
    "print(1)\n"
    "PY\n"
    'SHELL ["/bin/bash", "-c"]\n'
    "RUN echo in bash\n"
    "FROM base\n"
    "COPY --from=build /app /app\n"
)
KEYS = [  # (the step, shown by the first line of its history text; its key)
    ("ARG V=1", "sha256:dd69755de70e45a8f4fa044d3155660d43f0ab80f50a8293f9dd259dae2a4044"),
    ('ENV A=1 B="two words"', "sha256:148c80f9639192c2a247bd7d65274c32f6d7f17c35dc8d24ad76aa4306899f06"),
    ("ENV OLD value here", "sha256:0815383b5248d91a5379884441ee9a2cd0dd05f3c5e0213576c3ce7d3a1f3e25"),
    ('LABEL a=b "c d"=e', "sha256:e28b2f01eeef0fa6b3d987260c002ea1dabeca492c8e77b109220d6b2d332c39"),
    ("WORKDIR /app", "sha256:b59b92b50106f187484a34b96c57591dc89a4b9c65432dc343615bb371fa00df"),
    ("USER 1000", "sha256:53db5b19b9a28b34f3635c297f15f697375f5177e4f3bbac7ac3a20f1feb589d"),
    ("EXPOSE 80 53/udp", "sha256:545dd2a66b28be147c13a772ca230261e2f7139214bde1e47013f0f5693392c0"),
    ("VOLUME /data", "sha256:2de5d87ef9f88f9e44113e6ac1230bf0ce5ecd690da1caed53a9b9b6df38dfb6"),
    ('VOLUME ["/j"]', "sha256:d90e9022d94cfd21d6060eb44b4cc47d04076bf080b6587515f7cc39651540ef"),
    ("STOPSIGNAL SIGINT", "sha256:5c07632484df1f55881bec0d43b5175a8e3022347d6d6d0d02fb1beab7fdb22c"),
    (
        'HEALTHCHECK --interval=5s --retries=3 CMD ["true"]',
        "sha256:03f5bba9a7e1faedc76e5d69e641f42a7936f6a9cc2ec08976bc490866fd79a2",
    ),
    ("CMD echo hi", "sha256:3d52515f3bc5bf94d39161f0065fae2135a30356176364f385d60b9ddf522374"),
    ('ENTRYPOINT ["x"]', "sha256:820b4ff7011f425003dddbbb4dbbfdc2409eb70441b04f5364a15af70e7b2c79"),
    ("ONBUILD RUN echo child", "sha256:a99b63e27e4aae466d5e835c158b2a9ac381c3eff00f5bad96b78a91870e3a4f"),
    ("COPY b.txt /b", "sha256:97c893b9291bb5cdf57e0e728c3c0e840487829b27a5bb6a90a97be7fd6beba0"),
    (
        "COPY --chown=1:2 --chmod=644 src/ /src/",
        "sha256:b859657490d248231b5fb9f9bc546aeaeef1f18c9f6926620edb1e819c63100a",
    ),
    ("COPY <<EOF /here", "sha256:161a57a29973499370a8ac272b8f05bfe0851b7cf2cf1ba911466bd74afd3da1"),
    (
        "RUN |1 V=1 /bin/sh -c echo $V",
        "sha256:367e750853cc4881afe48a876cd161e3e76708cacfc55dcd3a107fc3e3a7cdfb",
    ),
    ("RUN |1 V=1 /bin/sh -c make", "sha256:c1e43c5ff7145201e3fa21e72175736dc89b75e404a628350406aedba602595a"),
    ('RUN |1 V=1 ["ls", "-l"]', "sha256:f029ba6de4132d89c6c7c14c09417ee0d346db2d960cbce8514b45f71c241927"),
    (
        "RUN |1 V=1 /bin/sh -c echo a",
        "sha256:debfd8c09678b5def61ed8bc0e07154f04a78cda94dbef102e94b34e2c43cff6",
    ),
    (
        "RUN |1 V=1 /bin/sh -c python3 <<PY",
        "sha256:158732a17ba7b200985e03df2d51614b589a06c87267099672996366d4ec751e",
    ),
    ('SHELL ["/bin/bash", "-c"]', "sha256:100b71ef90a35c2d1ba27c285e9c0063e933457e0002bea65392f7f6cc432254"),
    (
        "RUN |1 V=1 /bin/bash -c echo in bash",
        "sha256:358ac167e1d1aed68c695b338085a1ace6439e582beedd7ddb97ffe5c46defd9",
    ),
    (
        "COPY --from=build /app /app",  # (changed once since 1b8d9ce: see the docstring)
        "sha256:f9121c7c40827b2db4ec4298f34dcb64706918ddbfdd73f431e39ecc1b80d44e",
    ),
]


def test_keys_of_an_unchanged_dockerfile(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src/a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    (tmp_path / "image/app").mkdir(parents=True)
    (tmp_path / "image/app/f").write_text("f")
    db = Database(tmp_path / "cove.db")
    try:
        backend = RecordingBackend(db, tmp_path / "image")
        build(backend, Context(root), DOCKERFILE)
        assert {e.key for e in backend.cache.all()} == {key for _, key in KEYS}
        again = build(backend, Context(root), DOCKERFILE)
        assert again.cached_steps == again.steps == 10
    finally:
        db.close()
