"""Fixture helper for the registry_probe target: push or delete a test image in the shared
registry with the test suite's own push code (tests/support/images.py), never the collection's.

usage: registry_fixture.py push <repo> <tag>...   -> prints {"digest": ...}
       registry_fixture.py delete <repo> <digest>
Reads the registry from .localenv/env.sh variables (REGISTRYLINK_REGISTRY_URL, _USER, _PASSWORD, _CA).
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT))

from tests.support.images import delete_manifest, push_image  # noqa: E402


def main(argv):
    url = os.environ["REGISTRYLINK_REGISTRY_URL"]
    auth = (os.environ["REGISTRYLINK_REGISTRY_USER"], os.environ["REGISTRYLINK_REGISTRY_PASSWORD"])
    ca = os.environ["REGISTRYLINK_REGISTRY_CA"]
    if argv[1] == "push":
        print(json.dumps({"digest": push_image(url, argv[2], argv[3:], auth=auth, ca=ca)}))
    elif argv[1] == "delete":
        print(json.dumps({"status": delete_manifest(url, argv[2], argv[3], auth=auth, ca=ca)}))
    else:
        raise SystemExit("unknown command %r" % argv[1])


if __name__ == "__main__":
    main(sys.argv)
