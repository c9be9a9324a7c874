"""Fixture helper for the registry_gc target: push images of given ages into the shared
registry, list tags and delete by digest, with the test suite's own client
(tests/support/images.py), never the collection's.

usage: gc_fixture.py push <repo> <days_old> <tag>...  -> prints {"digest": ...}
       gc_fixture.py index <repo> <days_old> <tag>    -> prints {"digest": ...} (linux/amd64 + linux/arm64)
       gc_fixture.py tags <repo>                      -> prints {"tags": [...]}
       gc_fixture.py purge <repo>                     -> deletes every tagged digest, prints {"deleted": n}
Reads the registry from .localenv/env.sh variables (REGISTRYLINK_REGISTRY_URL, _USER, _PASSWORD, _CA).
"""

import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT))

from tests.support.images import delete_manifest, list_tags, manifest_digest, push_image, push_index  # noqa: E402


def _created(days):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=float(days))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv):
    url = os.environ["REGISTRYLINK_REGISTRY_URL"]
    auth = (os.environ["REGISTRYLINK_REGISTRY_USER"], os.environ["REGISTRYLINK_REGISTRY_PASSWORD"])
    ca = os.environ["REGISTRYLINK_REGISTRY_CA"]
    cmd, repo = argv[1], argv[2]
    if cmd == "push":
        print(json.dumps({"digest": push_image(url, repo, argv[4:], auth=auth, ca=ca, created=_created(argv[3]))}))
    elif cmd == "index":
        print(json.dumps({"digest": push_index(url, repo, argv[4:], ["linux/amd64", "linux/arm64"], auth=auth,
                                               ca=ca, created=_created(argv[3]))}))
    elif cmd == "tags":
        print(json.dumps({"tags": list_tags(url, repo, auth=auth, ca=ca)}))
    elif cmd == "purge":
        digests = set(manifest_digest(url, repo, t, auth=auth, ca=ca) for t in list_tags(url, repo, auth=auth, ca=ca))
        for d in digests:
            delete_manifest(url, repo, d, auth=auth, ca=ca)
        print(json.dumps({"deleted": len(digests)}))
    else:
        raise SystemExit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
