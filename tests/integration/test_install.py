#!/usr/bin/env python3
"""Integration test: `cmake --install` and `cpack -G DEB` give an operator
what a daemon package should.

- `cmake --install --prefix /usr` into a DESTDIR installs exactly the
  worker, its man page (gzipped), the documentation and example
  configuration, and the systemd unit (in /lib/systemd/system, as Debian
  puts units), whose ExecStart= names the installed binary and which is
  otherwise deploy/systemd's. The test
  tools are not installed.
- The installed binary prints the project version (CMakeLists.txt) and
  accepts the installed example configuration (--check-config).
- `man --warnings` renders the installed man page without a warning, and it
  covers every option of --help, the exit codes and the environment.
- `cpack -G DEB` makes a package whose Depends (from dpkg-shlibdeps) names
  the libraries the worker links, whose contents match the install, and
  whose extracted binary runs.

    ZU_BUILD_DIR=build python3 tests/integration/test_install.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import TestRun, build_dir  # noqa: E402

SRC = os.environ.get("ZU_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXPECTED = sorted([
    "lib/systemd/system/zim-unfriend-worker.service",
    "usr/bin/zim-unfriend-worker",
    "usr/share/doc/zim-unfriend/README.md",
    "usr/share/doc/zim-unfriend/contract.md",
    "usr/share/doc/zim-unfriend/design.md",
    "usr/share/doc/zim-unfriend/runbook.md",
    "usr/share/doc/zim-unfriend/worker.cfg.example",
    "usr/share/man/man1/zim-unfriend-worker.1.gz",
])
SCRATCH = tempfile.mkdtemp(prefix="zu-install-")


def version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        return re.search(r"project\(zim-unfriend VERSION ([0-9.]+)", f.read()).group(1)


def run(argv, env=None, **kw):
    e = {k: v for k, v in os.environ.items()
         if k not in ("ZIM_SERVER_SECRET", "CREDENTIALS_DIRECTORY", "KAFKA_BROKERS")}
    e.update(env or {})
    return subprocess.run(argv, env=e, capture_output=True, text=True, timeout=300, **kw)


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(out)


def test_install():
    dest = os.path.join(SCRATCH, "dest")
    r = run(["cmake", "--install", build_dir(), "--prefix", "/usr"], env={"DESTDIR": dest})
    assert r.returncode == 0, r.stdout + r.stderr
    got = files_under(dest)
    assert got == EXPECTED, "installed:\n  %s" % "\n  ".join(got)
    print("  installed:\n    " + "\n    ".join("/" + f for f in got))
    with open(os.path.join(dest, "lib/systemd/system/zim-unfriend-worker.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/bin/zim-unfriend-worker " in unit, unit
    # Only the worker's path changed: the rest is deploy/systemd's unit.
    with open(os.path.join(SRC, "deploy/systemd/zim-unfriend-worker.service")) as f:
        src = f.read()
    assert unit == src.replace("/usr/local/bin/zim-unfriend-worker", "/usr/bin/zim-unfriend-worker")

    exe = os.path.join(dest, "usr/bin/zim-unfriend-worker")
    r = run([exe, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("zim-unfriend-worker %s " % version()), \
        r.stdout + r.stderr
    example = os.path.join(dest, "usr/share/doc/zim-unfriend/worker.cfg.example")
    r = run([exe, "-c", example, "--check-config"], env={"ZIM_SERVER_SECRET": "s3cret"})
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout
    print("  installed --version: %s; --check-config of the installed example: exit 0"
          % version())


def test_man_page():
    assert shutil.which("man"), "man is not installed (Debian package man-db; scripts/deps.sh)"
    page = os.path.join(SCRATCH, "dest", "usr/share/man/man1/zim-unfriend-worker.1.gz")
    assert os.path.exists(page), "needs test_install's DESTDIR"
    r = run(["man", "--warnings", "-l", page], env={"MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""})
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", "man --warnings:\n" + r.stderr
    text = re.sub(r".\x08", "", r.stdout)  # no overstrike
    text = text.replace("\u2010", "-")     # man's hyphen at line ends
    help_text = run([os.path.join(build_dir(), "zim-unfriend-worker"), "--help"]).stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text))
    missing = sorted(o for o in options if o not in text)
    assert options and not missing, "options missing from the man page: %s" % missing
    for must in ("EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "ZIM_SERVER_SECRET",
                 "CREDENTIALS_DIRECTORY", "KAFKA_BROKERS", "ZIM_UNFRIEND_CONFIG", "64", "78",
                 "zim-unfriend %s" % version()):
        assert must in text, "the man page lacks %r" % must
    print("  man --warnings: clean; %d options of --help all documented" % len(options))


def test_deb():
    assert shutil.which("dpkg-shlibdeps"), "dpkg-dev is not installed (scripts/deps.sh)"
    out = os.path.join(SCRATCH, "pkg")
    r = run(["cpack", "-G", "DEB", "-B", out], cwd=build_dir())
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, os.listdir(out)
    deb = os.path.join(out, debs[0])
    assert debs[0] == "zim-unfriend_%s_amd64.deb" % version() or \
        debs[0].startswith("zim-unfriend_%s_" % version()), debs
    info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"]).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    assert fields.get("Package") == "zim-unfriend" and fields.get("Version") == version(), fields
    depends = fields.get("Depends", "")
    for lib in ("libc6", "librdkafka1", "libcurl4", "libssl3", "libjansson4", "libconfig9",
                "libmicrohttpd12", "libavro23"):
        assert re.search(r"(^|, )%s( |,|$)" % lib, depends), "Depends lacks %s: %s" % (lib, depends)
    print("  %s\n  Depends: %s" % (debs[0], depends))
    contents = run(["dpkg-deb", "-c", deb]).stdout
    listed = sorted(line.split()[-1][2:] for line in contents.splitlines()
                    if not line.startswith("d"))
    assert listed == EXPECTED, "package contents:\n  %s" % "\n  ".join(listed)
    x = os.path.join(SCRATCH, "x")
    r = run(["dpkg-deb", "-x", deb, x])
    assert r.returncode == 0, r.stderr
    r = run([os.path.join(x, "usr/bin/zim-unfriend-worker"), "--version"])
    assert r.returncode == 0 and version() in r.stdout, r.stdout + r.stderr


if __name__ == "__main__":
    t = TestRun()
    try:
        t.case(test_install)
        t.case(test_man_page)
        t.case(test_deb)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    t.finish()
