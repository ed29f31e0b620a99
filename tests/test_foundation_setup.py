"""The setup script's own safety rules: it refuses a source tarball with the wrong
checksum (naming the file and both checksums, publishing nothing) and finds the
machine's Debian archive in either apt sources format."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(REPO, "setup", "setup.sh")
VENV = os.path.dirname(os.path.dirname(sys.executable))


def test_wrong_checksum_stops_setup(tmp_path):
    fake = tmp_path / "caffe-fake.tar.gz"
    fake.write_bytes(b"not the BVLC Caffe source")
    cache = tmp_path / "cache"
    env = dict(os.environ, CAFFE_SRC=str(fake), ATNET_CACHE_DIR=str(cache), VENV=VENV)
    env.pop("CAFFE_ROOT", None)
    run = subprocess.run(["bash", SETUP, "caffe"], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    import hashlib
    got = hashlib.sha256(fake.read_bytes()).hexdigest()
    expected = "e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c"
    assert str(fake) in run.stderr and got in run.stderr and expected in run.stderr, run.stderr
    assert not [d for d in os.listdir(cache / "caffe") if d.startswith("cpu-")]


def _archive_uri(apt_etc):
    script = 'source "%s"; debian_archive_uri' % SETUP
    run = subprocess.run(["bash", "-c", script], env=dict(os.environ, APT_ETC=str(apt_etc)),
                         capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_archive_uri_deb822(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
    assert _archive_uri(tmp_path) == "http://mirror.example/debian"


def test_archive_uri_one_line(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n")
    assert _archive_uri(tmp_path) == "http://mirror.example/debian/"
