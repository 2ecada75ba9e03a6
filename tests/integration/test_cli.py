#!/usr/bin/env python3
"""Integration test of zim-unfriend-worker's command line and configuration.

Runs the binary ($ZU_BUILD_DIR/zim-unfriend-worker) directly: -h/-V, usage
errors (exit 64), --check-config (every group printed, the secret masked for
each of its sources, ZIM_UNFRIEND_CONFIG and KAFKA_BROKERS), configuration
errors (exit 78, "file:line: key: reason", librdkafka's reason for rejected
properties, the secret never echoed) and the shipped example config. No
network, no Kafka: every run only parses and exits.

python3 stdlib only; run with ZU_BUILD_DIR=<build dir>, ZU_SOURCE_DIR=<repo>.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import TestRun, binary  # noqa: E402

PROG = "zim-unfriend-worker"
SOURCE_DIR = os.environ.get("ZU_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
ENV_SECRET = "env-Secret-5fJ2q!x"
INLINE_SECRET = "inline-Secret-W8c#k"
FILE_SECRET = "file-Secret-Hq3$v"
GROUPS = ["kafka", "zim", "retry", "worker", "events", "observability"]
KEYS = ["brokers", "group_id", "input_topics", "result_topic", "dead_letter_topic", "consumer",
        "producer", "endpoint", "app_id", "server_secret", "server_secret_file",
        "rate_limit_qps", "rate_limit_share", "request_timeout_ms", "connect_timeout_ms",
        "success_codes", "ca_file", "max_attempts", "initial_backoff_ms", "max_backoff_ms",
        "max_in_flight", "shutdown_grace_ms", "account_deleted", "friend_reset",
        "unknown_types", "listen", "log_format", "log_level", "redact_user_ids"]
TMP = tempfile.mkdtemp(prefix="zu-cli-")
_seq = [0]


def version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*zim-unfriend\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1) if m else None


def run(*args, env=None, secret=None):
    """Runs the worker with a clean environment plus env; returns (rc, out, err)."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("ZIM_UNFRIEND_CONFIG", "ZIM_SERVER_SECRET", "KAFKA_BROKERS")}
    if secret is not None:
        e["ZIM_SERVER_SECRET"] = secret
    e.update(env or {})
    p = subprocess.run([binary(PROG)] + list(args), env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def cfg_file(text, name=None):
    """Writes a config file; returns its path."""
    _seq[0] += 1
    path = os.path.join(TMP, name or "c%02d.cfg" % _seq[0])
    with open(path, "w") as f:
        f.write(text)
    return path


MINIMAL = ('kafka: {\n'
           '  input_topics = [ "account-events" ];\n'
           '  result_topic = "zim-unfriend-results";\n'
           '};\n'
           'zim: {\n'
           '  app_id = 1234567890;\n'
           '%s'
           '};\n')


def minimal(extra_zim="", tail=""):
    return cfg_file(MINIMAL % extra_zim + tail)


def line_of(path, needle):
    """1-based number of the first line of path containing needle."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise AssertionError("%r not in %s" % (needle, path))


def expect_usage_error(args, word, env=None):
    rc, out, err = run(*args, env=env)
    assert rc == 64, "%s: exit %d; stderr %r" % (args, rc, err)
    assert out == "", "%s: stdout %r" % (args, out)
    first = err.splitlines()[0] if err else ""
    assert first.startswith(PROG + ": "), "%s: message %r" % (args, first)
    assert word in first, "%s: message %r lacks %r" % (args, first, word)
    print("    %-45s -> %s" % (" ".join(args)[:45], first))


def expect_config_error(path, pattern, env=None, secrets=(), args=("--check-config",)):
    """Exit 78, empty stdout, one stderr line matching PROG: pattern (pattern
    may use {path}); no secret in the output."""
    e = {"ZIM_SERVER_SECRET": ENV_SECRET}
    e.update(env or {})
    rc, out, err = run("-c", path, *args, env=e)
    assert rc == 78, "exit %d; stdout %r; stderr %r" % (rc, out, err)
    assert out == "", "stdout %r" % out
    lines = err.splitlines()
    assert len(lines) == 1, "stderr is not one line: %r" % err
    want = PROG + ": " + pattern.replace("{path}", re.escape(path))
    assert re.match(want, lines[0]), "message %r does not match %r" % (lines[0], want)
    for s in (ENV_SECRET,) + tuple(secrets):
        assert s not in err, "secret %r in %r" % (s, err)
    print("    %s" % lines[0].replace(TMP + "/", ""))


def check_config(path=None, env=None, args=()):
    """Runs --check-config expecting exit 0; returns (stdout, stderr)."""
    a = (["-c", path] if path else []) + ["--check-config"] + list(args)
    rc, out, err = run(*a, env=env)
    assert rc == 0, "exit %d; stderr %r" % (rc, err)
    for g in GROUPS:
        assert re.search(r"^%s: \{" % g, out, re.M), "group %s missing:\n%s" % (g, out)
    for k in KEYS:
        assert re.search(r"^\s+%s\s*[=:]" % k, out, re.M), "key %s missing:\n%s" % (k, out)
    assert re.search(r'^\s+server_secret = "\*+";', out, re.M), out
    return out, err


def secret_source_line(out):
    return next(x for x in out.splitlines() if re.match(r"\s+server_secret\s*=", x))


# ---- cases -------------------------------------------------------------------------------

def help_text():
    for flag in ("-h", "--help"):
        rc, out, err = run(flag)
        assert rc == 0 and err == "", (flag, rc, err)
        assert out.startswith("usage: " + PROG), out
        for opt in ("--config", "--check-config", "--dry-run", "--from-beginning", "--from-end",
                    "--from-timestamp", "--until-end", "--once", "--delete-type", "--log-level",
                    "--help", "--version", "ZIM_UNFRIEND_CONFIG"):
            assert opt in out, "%s not in usage" % opt
    # -h wins over everything else, even without a config
    rc, out, _ = run("-h", "--from-beginning", "--from-end")
    assert rc == 0 and out.startswith("usage: "), rc


def version_text():
    want = version()
    for flag in ("-V", "--version"):
        rc, out, err = run(flag)
        assert rc == 0 and err == "", (flag, rc, err)
        lines = out.splitlines()
        assert len(lines) == 1, out
        m = re.match(r"^%s (\d+\.\d+\.\d+)\b" % PROG, lines[0])
        assert m, lines[0]
        if want:
            assert m.group(1) == want, (m.group(1), want)
    print("    %s" % lines[0][:80])


def usage_errors():
    good = minimal()
    expect_usage_error(["--bogus", "-c", good], "--bogus")
    expect_usage_error(["-x", "-c", good], "-x")
    expect_usage_error(["-c", good, "stray"], "stray")
    expect_usage_error(["-c"], "-c")
    expect_usage_error(["-c", good, "--once"], "--once")
    expect_usage_error([], "ZIM_UNFRIEND_CONFIG")
    expect_usage_error(["--check-config"], "ZIM_UNFRIEND_CONFIG",
                       env={"ZIM_UNFRIEND_CONFIG": ""})
    expect_usage_error(["-c", good, "--from-beginning", "--from-end"], "--from-")
    expect_usage_error(["-c", good, "--from-end", "--from-timestamp", "1700000000000"],
                       "--from-")
    expect_usage_error(["-c", good, "--delete-type", "one-way"], "--delete-type")
    expect_usage_error(["-c", good, "--once", "u1", "--delete-type", "sideways"], "sideways")
    expect_usage_error(["-c", good, "--from-timestamp", "yesterday"], "--from-timestamp")
    expect_usage_error(["-c", good, "--from-timestamp", "2026-02-30T00:00:00Z"],
                       "--from-timestamp")
    expect_usage_error(["-c", good, "--log-level", "loud"], "--log-level")
    expect_usage_error(["-c", good, "--once", "u1", "--dry-run"], "--once")
    expect_usage_error(["-c", good, "--once", "u1", "--from-beginning"], "--once")
    expect_usage_error(["-c", good, "--check-config", "--dry-run"], "--check-config")
    # usage is checked before the config is read: a broken config does not mask it
    expect_usage_error(["-c", cfg_file("broken {"), "--bogus"], "--bogus")


def check_config_env_secret():
    out, err = check_config(minimal(), env={"ZIM_SERVER_SECRET": ENV_SECRET})
    assert ENV_SECRET not in out + err
    assert "ZIM_SERVER_SECRET" in secret_source_line(out), secret_source_line(out)
    print("    " + secret_source_line(out).strip())


def check_config_inline_secret():
    out, err = check_config(minimal('  server_secret = "%s";\n' % INLINE_SECRET))
    assert INLINE_SECRET not in out + err
    assert "zim.server_secret" in secret_source_line(out), secret_source_line(out)
    print("    " + secret_source_line(out).strip())


def check_config_secret_file():
    sec = cfg_file(FILE_SECRET + "\n", name="secret.txt")
    out, err = check_config(minimal('  server_secret_file = "%s";\n' % sec))
    assert FILE_SECRET not in out + err
    assert "server_secret_file" in secret_source_line(out), secret_source_line(out)
    assert sec in out, "server_secret_file path not shown"
    print("    " + secret_source_line(out).strip())


def check_config_env_secret_wins():
    path = minimal('  server_secret = "%s";\n' % INLINE_SECRET)
    out, err = check_config(path, env={"ZIM_SERVER_SECRET": ENV_SECRET})
    for s in (ENV_SECRET, INLINE_SECRET):
        assert s not in out + err, s
    assert "ZIM_SERVER_SECRET" in secret_source_line(out), secret_source_line(out)


def check_config_env_path_and_brokers():
    path = minimal()
    out, err = check_config(None, env={"ZIM_UNFRIEND_CONFIG": path,
                                       "ZIM_SERVER_SECRET": ENV_SECRET,
                                       "KAFKA_BROKERS": "k1.example:9092,k2.example:9093"})
    assert path in out, "loaded path not shown:\n" + out
    assert re.search(r'^\s+brokers = "k1\.example:9092,k2\.example:9093";', out, re.M), out
    # -c wins over ZIM_UNFRIEND_CONFIG
    out, _ = check_config(path, env={"ZIM_UNFRIEND_CONFIG": os.path.join(TMP, "absent.cfg"),
                                     "ZIM_SERVER_SECRET": ENV_SECRET})
    assert re.search(r'^\s+brokers = "localhost:9092";', out, re.M), out


def check_config_values_shown():
    path = cfg_file('kafka: {\n'
                    '  brokers = "b1:9092";\n'
                    '  input_topics = [ "t1", "t2" ];\n'
                    '  result_topic = "res";\n'
                    '  consumer = [ "fetch.wait.max.ms=50" ];\n'
                    '};\n'
                    'zim: { app_id = 3000000000L; rate_limit_qps = 7.5;\n'
                    '  success_codes = [ 0, 660000003 ]; };\n'
                    'retry: { max_attempts = 3; };\n'
                    'events: { friend_reset: { match = [ "fr", "friend-reset" ];\n'
                    '  delete_type = "one-way"; }; unknown_types = "fail"; };\n'
                    'observability: { log_format = "text"; redact_user_ids = true; };\n')
    out, _ = check_config(path, env={"ZIM_SERVER_SECRET": ENV_SECRET})
    for pat in [r'input_topics = \[ "t1", "t2" \];', r'result_topic = "res";',
                r'consumer = \[ "fetch\.wait\.max\.ms=50" \];', r'app_id = 3000000000L?;',
                r'rate_limit_qps = 7\.5;', r'success_codes = \[ 0, 660000003 \];',
                r'max_attempts = 3;', r'"fr", "friend-reset"', r'delete_type = "one-way"',
                r'unknown_types = "fail";', r'log_format = "text";',
                r'redact_user_ids = true;', r'brokers = "b1:9092";']:
        assert re.search(pat, out), "%s not in:\n%s" % (pat, out)


def check_config_round_trip():
    """--check-config output is itself a valid config that prints the same."""
    src = minimal('  server_secret = "%s";\n  rate_limit_qps = 12.25;\n' % INLINE_SECRET)
    env = {"ZIM_SERVER_SECRET": ENV_SECRET}
    out1, _ = check_config(src, env=env)
    again = cfg_file(out1)
    out2, _ = check_config(again, env=env)
    body1 = [x for x in out1.splitlines() if not x.startswith("#")]
    body2 = [x for x in out2.splitlines() if not x.startswith("#")]
    assert body1 == body2, "\n".join(body1) + "\n----\n" + "\n".join(body2)


def config_errors():
    # unknown key, at the top level and inside a group
    p = minimal(tail="bogus = 1;\n")
    expect_config_error(p, r"{path}:%d: bogus: " % line_of(p, "bogus"))
    p = minimal('  app_idd = 5;\n')
    expect_config_error(p, r"{path}:%d: zim\.app_idd: " % line_of(p, "app_idd"))
    p = minimal(tail='events: { account_deleted: { match = [ "x" ]; colour = "red"; }; };\n')
    expect_config_error(p, r"{path}:%d: events\.account_deleted\.colour: " % line_of(p, "colour"))
    # wrong types
    p = cfg_file(MINIMAL.replace("app_id = 1234567890", 'app_id = "1234567890"') % "")
    expect_config_error(p, r"{path}:%d: zim\.app_id: " % line_of(p, "app_id"))
    p = minimal('  request_timeout_ms = "5000";\n')
    expect_config_error(p, r"{path}:%d: zim\.request_timeout_ms: " % line_of(p, "request_t"))
    p = cfg_file(MINIMAL.replace('result_topic = "zim-unfriend-results"',
                                 'result_topic = [ "r" ]') % "")
    expect_config_error(p, r"{path}:%d: kafka\.result_topic: " % line_of(p, "result_topic"))
    p = minimal(tail='retry = 3;\n')
    expect_config_error(p, r"{path}:%d: retry: " % line_of(p, "retry"))
    # out of range / not one of the names
    p = minimal('  rate_limit_qps = 0.0;\n')
    expect_config_error(p, r"{path}:%d: zim\.rate_limit_qps: " % line_of(p, "rate_limit_qps"))
    p = minimal('  rate_limit_qps = -3.0;\n')
    expect_config_error(p, r"{path}:%d: zim\.rate_limit_qps: " % line_of(p, "rate_limit_qps"))
    p = minimal(tail='retry: { max_attempts = 0; };\n')
    expect_config_error(p, r"{path}:%d: retry\.max_attempts: " % line_of(p, "max_attempts"))
    p = minimal('  rate_limit_share = "fair";\n')
    expect_config_error(p, r"{path}:%d: zim\.rate_limit_share: " % line_of(p, "share"))
    p = cfg_file(MINIMAL.replace("app_id = 1234567890", "app_id = 0") % "")
    expect_config_error(p, r"{path}:%d: zim\.app_id: " % line_of(p, "app_id"))
    p = minimal(tail='observability: { log_level = "loud"; };\n')
    expect_config_error(p, r"{path}:%d: observability\.log_level: " % line_of(p, "log_level"))
    # missing required keys (no line to name: the file and the key)
    p = cfg_file(MINIMAL.replace('  result_topic = "zim-unfriend-results";\n', "") % "")
    expect_config_error(p, r"{path}(:\d+)?: kafka\.result_topic: ")
    p = cfg_file(MINIMAL.replace("  app_id = 1234567890;\n", "") % "")
    expect_config_error(p, r"{path}(:\d+)?: zim\.app_id: ")
    p = cfg_file(MINIMAL.replace('  input_topics = [ "account-events" ];\n',
                                 "  input_topics = [ ];\n") % "")
    expect_config_error(p, r"{path}(:\d+)?: kafka\.input_topics: ")
    # libconfig syntax errors name file and line
    p = minimal('  rate_limit_qps = = 3.0;\n')
    expect_config_error(p, r"{path}:%d: .*syntax" % line_of(p, "= ="))
    p = cfg_file(MINIMAL % "" + "retry: {\n  max_attempts = 3;\n")
    expect_config_error(p, r"{path}:\d+: .*syntax")
    p = cfg_file(MINIMAL % "" + "retry: { max_attempts = 3; };\nretry: { max_attempts = 4; };\n")
    expect_config_error(p, r"{path}:%d: .*(retry|duplicate)" % line_of(p, "= 4"))
    # unreadable file
    expect_config_error(os.path.join(TMP, "no-such.cfg"), r"{path}: .*(No such file|cannot)")


KAFKA_PROPS = [
    ("consumer", ["fetch.wait.max.ms=banana"], "banana",
     r'kafka\.consumer: fetch\.wait\.max\.ms=banana: '
     r'Invalid value for configuration property "fetch\.wait\.max\.ms"'),
    ("consumer", ["linger.ms=5", "no.such.prop=1"], "no.such.prop",
     r'kafka\.consumer: no\.such\.prop=1: No such configuration property: "no\.such\.prop"'),
    ("producer", ["compression.type=zip"], "compression",
     r'kafka\.producer: compression\.type=zip: .*compression\.(type|codec)'),
    ("consumer", ["fetch.wait.max.ms"], "fetch", r'kafka\.consumer: .*name=value'),
]


def kafka_props_file(group, props):
    lines = "".join('    "%s"%s\n' % (x, "," if i + 1 < len(props) else "")
                    for i, x in enumerate(props))
    return cfg_file(MINIMAL.replace('result_topic = "zim-unfriend-results";',
                                    'result_topic = "zim-unfriend-results";\n'
                                    '  %s = [\n%s  ];' % (group, lines)) % "")


def config_kafka_properties():
    """A property librdkafka rejects: exit 78, the key, the property and
    librdkafka's reason."""
    for group, props, _, reason in KAFKA_PROPS:
        expect_config_error(kafka_props_file(group, props), r".*\b" + reason)


def config_kafka_properties_file_line():
    """... and, like every other configuration error, file:line of the list
    (libconfig 1.5 misplaces the last element of a multi-line list)."""
    for group, props, needle, reason in KAFKA_PROPS:
        p = kafka_props_file(group, props)
        expect_config_error(p, r"{path}:%d: %s" % (line_of(p, "%s = [" % group), reason))


def config_secret_errors():
    # no secret anywhere
    p = minimal()
    rc, out, err = run("-c", p, "--check-config")
    assert rc == 78 and out == "", (rc, out)
    assert re.match(PROG + r": %s(:\d+)?: zim\.server_secret" % re.escape(p), err), err
    assert "ZIM_SERVER_SECRET" in err, err
    print("    " + err.strip().replace(TMP + "/", ""))
    # the file named does not exist / is empty
    p = minimal('  server_secret_file = "%s";\n' % os.path.join(TMP, "absent-secret"))
    rc, _, err = run("-c", p, "--check-config")
    assert rc == 78 and "server_secret_file" in err, (rc, err)
    assert err.startswith(PROG + ": " + p), err
    empty = cfg_file("", name="empty-secret")
    p = minimal('  server_secret_file = "%s";\n' % empty)
    rc, _, err = run("-c", p, "--check-config")
    assert rc == 78 and "server_secret_file" in err, (rc, err)
    # both inline and file: error, and neither secret is echoed
    sec = cfg_file(FILE_SECRET, name="secret2.txt")
    p = minimal('  server_secret = "%s";\n  server_secret_file = "%s";\n' % (INLINE_SECRET, sec))
    expect_config_error(p, r"{path}:\d+: zim\.server_secret", env={"ZIM_SERVER_SECRET": ""},
                        secrets=(INLINE_SECRET, FILE_SECRET))
    # errors on or next to the secret's line never echo it
    p = minimal('  server_secret = "%s" junk;\n' % INLINE_SECRET)
    expect_config_error(p, r"{path}:\d+: ", secrets=(INLINE_SECRET,))
    p = minimal('  server_secret = "%s";\n  server_secrets = "%s";\n'
                % (INLINE_SECRET, INLINE_SECRET))
    expect_config_error(p, r"{path}:\d+: zim\.server_secrets: ", secrets=(INLINE_SECRET,))
    p = minimal('  server_secret = [ "%s" ];\n' % INLINE_SECRET)
    expect_config_error(p, r"{path}:\d+: zim\.server_secret: ", secrets=(INLINE_SECRET,))


def config_error_exit_in_every_mode():
    """The configuration is validated before --once or the consumer starts."""
    p = minimal('  rate_limit_qps = 0.0;\n')
    for args in (["--once", "u1"], ["--dry-run"], []):
        expect_config_error(p, r"{path}:\d+: zim\.rate_limit_qps: ", args=args)


def example_config():
    path = os.path.join(SOURCE_DIR, "deploy", "worker.cfg.example")
    out, err = check_config(path, env={"ZIM_SERVER_SECRET": ENV_SECRET})
    assert ENV_SECRET not in out + err
    assert err == "", err
    # without a secret from anywhere the example (server_secret = "") is incomplete
    rc, _, err = run("-c", path, "--check-config")
    assert rc == 78 and "server_secret" in err, (rc, err)


def startup_failure():
    """A valid configuration whose observability address is taken: the worker
    exits 1 at start-up with an error log line naming the address."""
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = minimal(tail='observability: { listen = "127.0.0.1:%d"; };\n' % port)
        rc, out, err = run("-c", p, secret="s3cret-startup")
    assert rc == 1, (rc, err)
    assert out == "", out
    recs = [json.loads(x) for x in err.splitlines()]
    fail = [r for r in recs if r["msg"] == "start-up failed"]
    assert len(fail) == 1 and fail[0]["level"] == "error", recs
    assert "127.0.0.1:%d" % port in fail[0]["error"], fail
    assert "s3cret-startup" not in err


def main():
    t = TestRun()
    for fn in (help_text, version_text, usage_errors, check_config_env_secret,
               check_config_inline_secret, check_config_secret_file,
               check_config_env_secret_wins, check_config_env_path_and_brokers,
               check_config_values_shown, check_config_round_trip, config_errors,
               config_kafka_properties, config_kafka_properties_file_line,
               config_secret_errors, config_error_exit_in_every_mode,
               example_config, startup_failure):
        t.case(fn)
    shutil.rmtree(TMP, ignore_errors=True)
    t.finish()


if __name__ == "__main__":
    main()
