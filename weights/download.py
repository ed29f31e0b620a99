#!/usr/bin/env python3
"""Download the ImageNet ResNet10_cvgj caffemodel named in weights/README.md and verify its sha256.

The URL, file name and checksum come from the README's front matter, the one
place they are written down. The file is downloaded under a temporary name and
only moved into place once its checksum matches; a file already present and
matching is left alone.
"""
import argparse
import os
import urllib.error
import urllib.request

import yaml
from tqdm import tqdm

from atnet.common import InputError, atomic_path, run_cli, sha256_file

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "README.md")


def front_matter(path=README):
    """The YAML block between the first two '---' lines of ``path``."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    parts = text.split("---\n", 2)
    if len(parts) < 3 or parts[0].strip():
        raise InputError("%s: no '---' front matter at the top" % path)
    return yaml.safe_load(parts[1])


def verify(path, expected):
    """Raise InputError unless ``path`` has the sha256 ``expected`` (no check when none is known)."""
    got = sha256_file(path)
    if expected and got != expected:
        raise InputError("%s: sha256 %s does not match the published %s" % (path, got, expected))
    return got


def download(url, path, expected):
    """Fetch ``url`` to ``path`` through a temporary file that is renamed only after verification."""
    with atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(path)) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
        except (urllib.error.URLError, OSError) as err:
            raise InputError("cannot download %s (%s)" % (url, getattr(err, "reason", err))) from None
        return verify(tmp, expected)


def main(argv=None):
    meta = front_matter()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out-dir", default=HERE, help="directory to put %s in" % meta["file"])
    parser.add_argument("--url", default=meta["source_url"], help="where to download from")
    parser.add_argument("--verify", metavar="FILE", help="only check the sha256 of a file you downloaded")
    args = parser.parse_args(argv)
    expected = meta.get("sha256") or ""
    if args.verify:
        print("%s: sha256 %s matches the published checksum" % (args.verify, verify(args.verify, expected)))
        return 0
    path = os.path.join(args.out_dir, meta["file"])
    if os.path.exists(path):
        print("%s is present; sha256 %s verified" % (path, verify(path, expected)))
        return 0
    try:
        digest = download(args.url, path, expected)
    except InputError as err:
        raise InputError("%s\nDownload %s by hand from one of %s and check it with --verify FILE"
                         % (err, meta["file"], ", ".join([meta["source_url"]] + meta.get("mirrors", [])))) from None
    print("%s downloaded; sha256 %s %s" % (path, digest, "verified" if expected else "(no published checksum)"))
    return 0


if __name__ == "__main__":
    run_cli(main)
