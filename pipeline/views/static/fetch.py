"""Fetch the vendored JavaScript libraries of the HTML view from the npm registry.

The interactive page (``pipeline/views/html.py``) inlines these files, so a
written page needs nothing from the network. This script is how they got
here and how to update them: it downloads each pinned package's tarball from
the npm registry, checks it against the registry's sha512 integrity string
pinned below, and writes the files it needs next to this script. Change a
version only together with its integrity (``npm view <name>@<version>
dist.integrity``) and the table in ``README.md``.

    python pipeline/views/static/fetch.py          # fetch and write
    python pipeline/views/static/fetch.py --check  # verify the files here match the pins
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent

# name, version, sha512 integrity of the tarball, {file in the tarball: file written here}
PACKAGES: list[tuple[str, str, str, dict[str, str]]] = [
    (
        "cytoscape",
        "3.35.0",
        "sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5SxYzUYlQ0DOJJ3g==",
        {
            "package/dist/cytoscape.min.js": "cytoscape.min.js",
            "package/LICENSE": "cytoscape.LICENSE",
        },
    ),
    (
        "cytoscape-dagre",
        "4.0.1",
        "sha512-hyNdh8Vp1nwzBcjHnM4c71G81bFhPmQYLXD2HM9AZIvl+8TrMzWEOPW45hF/XOBQiEguPcDQzi6VrXR1XBcXOA==",
        {
            "package/dist/cytoscape-dagre.min.js": "cytoscape-dagre.min.js",
            "package/LICENSE": "cytoscape-dagre.LICENSE",
        },
    ),
    (
        # Bundled inside cytoscape-dagre.min.js (its banner says dagre 3.0.0): only the
        # licence and the licences of what dagre bundles are written.
        "@dagrejs/dagre",
        "3.0.0",
        "sha512-ZzhnTy1rfuoew9Ez3EIw4L2znPGnYYhfn8vc9c4oB8iw6QAsszbiU0vRhlxWPFnmmNSFAkrYeF1PhM5m4lAN0Q==",
        {
            "package/LICENSE": "dagre.LICENSE",
            "package/dist/dagre.esm.js.LEGAL.txt": "dagre.LEGAL.txt",
        },
    ),
]
REGISTRY = "https://registry.npmjs.org"


def tarball_url(name: str, version: str) -> str:
    """The registry's tarball address of ``name@version`` (scoped names included)."""
    base = name.rsplit("/", 1)[-1]
    return f"{REGISTRY}/{name}/-/{base}-{version}.tgz"


def fetch(name: str, version: str, integrity: str) -> bytes:
    """Download one tarball and check its sha512 against the pinned integrity."""
    with urllib.request.urlopen(tarball_url(name, version), timeout=60) as response:
        data: bytes = response.read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != integrity:
        raise SystemExit(f"{name}@{version}: integrity {got} does not match the pinned {integrity}")
    return data


def extract(data: bytes, files: dict[str, str]) -> dict[str, bytes]:
    """The wanted files of a tarball, by the name they get here."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, target in files.items():
            handle = tar.extractfile(member)
            if handle is None:
                raise SystemExit(f"{member} is not a file in the tarball")
            out[target] = handle.read()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    stale = []
    for name, version, integrity, files in PACKAGES:
        for target, content in extract(fetch(name, version, integrity), files).items():
            path = HERE / target
            if args.check:
                if not path.exists() or path.read_bytes() != content:
                    stale.append(target)
            else:
                path.write_bytes(content)
                print(f"{name}@{version}: wrote {path.name} ({len(content):,} bytes)")
    if stale:
        print(f"differ from the pinned packages: {', '.join(stale)}", file=sys.stderr)
        return 1
    if args.check:
        print("the vendored files match the pinned packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
