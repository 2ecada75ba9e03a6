#!/usr/bin/env python3
"""Integration test: the files in deploy/ pass the checks this machine can
run, and use only flags, keys and paths the worker knows.

- systemd: `systemd-analyze security --offline=yes` rates the unit at 1.5
  or below; it runs under DynamicUser= with the secret as the credential the
  worker reads ($CREDENTIALS_DIRECTORY/zim-server-secret, checked by running
  --check-config with that credential), and it does not restart on exit 64
  or 78.
- Every YAML file parses. The Kubernetes pods meet the restricted Pod
  Security Standard (runAsNonRoot, seccomp RuntimeDefault, no privilege
  escalation, capabilities dropped, read-only root, no service-account
  token), take the secret as a file the config points at (never an
  environment variable), and a PodDisruptionBudget covers the Deployment;
  the replay and redrive Jobs end (--until-end) and use a group of their own.
- compose: read-only, no capabilities, no-new-privileges, the secret as a
  compose secret, no env_file. Dockerfile: base images pinned.
- Every --flag the files pass is in --help, and every configuration they
  ship (the ConfigMap's, worker.cfg.example) passes --check-config.

    ZU_BUILD_DIR=build python3 tests/integration/test_deploy.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import TestRun, binary  # noqa: E402

SRC = os.environ.get("ZU_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEPLOY = os.path.join(SRC, "deploy")
UNIT = os.path.join(DEPLOY, "systemd", "zim-unfriend-worker.service")
K8S = os.path.join(DEPLOY, "k8s")


def load_yaml(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return yaml.safe_load(f)


def worker(*args, env=None):
    e = {k: v for k, v in os.environ.items()
         if k not in ("ZIM_SERVER_SECRET", "CREDENTIALS_DIRECTORY", "KAFKA_BROKERS")}
    e.update(env or {})
    return subprocess.run([binary("zim-unfriend-worker")] + list(args), env=e,
                          capture_output=True, text=True, timeout=30)


def unit_settings():
    """{key: [values]} of the unit file."""
    out = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k, []).append(v)
    return out


def test_systemd():
    sa = shutil.which("systemd-analyze")
    assert sa, "systemd-analyze is not installed (Debian package systemd; scripts/deps.sh)"
    r = subprocess.run([sa, "security", "--offline=yes", UNIT], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    level = float(m.group(1))
    assert level <= 1.5, "exposure %.1f > 1.5:\n%s" % (level, r.stdout)
    print("  systemd-analyze security: %.1f" % level)
    u = unit_settings()
    assert u.get("DynamicUser") == ["yes"], u.get("DynamicUser")
    assert "User" not in u, "DynamicUser= allocates the user"
    cred = [v.split(":", 1)[0] for v in u.get("LoadCredential", [])]
    assert cred == ["zim-server-secret"], cred
    assert "EnvironmentFile" not in u and not any("ZIM_SERVER_SECRET" in v
                                                  for v in u.get("Environment", [])), u
    assert set(u["RestartPreventExitStatus"][0].split()) == {"64", "78"}, u
    # The credential is what the worker reads: --check-config with it and a
    # config that has no secret of its own.
    with tempfile.TemporaryDirectory(prefix="zu-deploy-") as d:
        os.makedirs(os.path.join(d, "creds"))
        with open(os.path.join(d, "creds", cred[0]), "w") as f:
            f.write("s3cret-from-credential\n")
        cfg = os.path.join(d, "w.cfg")
        with open(cfg, "w") as f:
            f.write('kafka: { input_topics = [ "in" ]; result_topic = "out"; };\n'
                    'zim: { app_id = 1; };\n')
        r = worker("-c", cfg, "--check-config",
                   env={"CREDENTIALS_DIRECTORY": os.path.join(d, "creds")})
        assert r.returncode == 0, r.stderr
        assert "# from systemd credential zim-server-secret" in r.stdout, r.stdout
        assert "s3cret-from-credential" not in r.stdout + r.stderr


def pod_checks(where, spec, containers):
    psc = spec.get("securityContext", {})
    assert spec.get("automountServiceAccountToken") is False, where
    assert psc.get("runAsNonRoot") is True, where
    assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
    for c in containers:
        sc = c.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, (where, c["name"])
        assert sc.get("readOnlyRootFilesystem") is True, (where, c["name"])
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], (where, c["name"])
        names = [e["name"] for e in c.get("env", [])]
        assert "ZIM_SERVER_SECRET" not in names, (where, "secret as an environment variable")
    secrets = [v for v in spec.get("volumes", []) if "secret" in v]
    assert len(secrets) == 1, (where, spec.get("volumes"))
    vol = secrets[0]
    mounts = [m for c in containers for m in c.get("volumeMounts", []) if m["name"] == vol["name"]]
    assert mounts and all(m.get("readOnly") for m in mounts), (where, mounts)
    items = vol["secret"].get("items") or [{"path": "server-secret"}]
    mode = vol["secret"].get("defaultMode", 0o644)
    assert mode & 0o007 == 0, (where, "secret readable by others: %o" % mode)
    return [os.path.join(m["mountPath"], i["path"]) for m in mounts for i in items]


def test_kubernetes():
    for name in sorted(os.listdir(K8S)):
        with open(os.path.join(K8S, name)) as f:
            list(yaml.safe_load_all(f))
    cm = load_yaml("k8s/configmap.yaml")
    cfg_text = cm["data"]["worker.cfg"]
    m = re.search(r'server_secret_file\s*=\s*"([^"]+)"', cfg_text)
    assert m, "the ConfigMap's config names no server_secret_file"
    secret_path = m.group(1)

    dep = load_yaml("k8s/deployment.yaml")
    spec = dep["spec"]["template"]["spec"]
    paths = pod_checks("deployment", spec, spec["containers"])
    assert secret_path in paths, (secret_path, paths)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    c = spec["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"

    pdb = load_yaml("k8s/pdb.yaml")
    assert pdb["kind"] == "PodDisruptionBudget" and pdb["apiVersion"] == "policy/v1", pdb
    sel = pdb["spec"]["selector"]["matchLabels"]
    assert all(labels.get(k) == v for k, v in sel.items()), (sel, labels)

    jobs = 0
    for name in ("k8s/replay-job.yaml", "k8s/redrive-job.yaml"):
        job = load_yaml(name)
        assert job["kind"] == "Job", name
        jspec = job["spec"]["template"]["spec"]
        assert secret_path in pod_checks(name, jspec, jspec["containers"]), name
        args = jspec["containers"][0]["args"]
        assert "--until-end" in args and "--group" in args, (name, args)
        group = args[args.index("--group") + 1]
        rules = job["spec"].get("podFailurePolicy", {}).get("rules", [])
        codes = [set(r["onExitCodes"]["values"]) for r in rules
                 if r.get("action") == "FailJob" and "onExitCodes" in r]
        assert {64, 78} in codes, (name, "exit 64/78 must fail the Job, not be retried")
        assert group != "zim-unfriend", (name, "a job shares the production group")
        jobs += 1
    print("  %d Kubernetes files parse; the Deployment and %d Jobs meet the restricted "
          "standard; secret at %s" % (len(os.listdir(K8S)), jobs, secret_path))


def test_compose_and_dockerfile():
    compose = load_yaml("docker-compose.yml")
    svc = compose["services"]["worker"]
    assert svc.get("read_only") is True, svc
    assert svc.get("cap_drop") == ["ALL"], svc
    assert "no-new-privileges:true" in svc.get("security_opt", []), svc
    assert "env_file" not in svc, svc
    assert "ZIM_SERVER_SECRET" not in (svc.get("environment") or {}), svc
    srcs = [s["source"] if isinstance(s, dict) else s for s in svc.get("secrets", [])]
    assert srcs and all(s in compose.get("secrets", {}) for s in srcs), svc
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        froms = re.findall(r"^FROM\s+(\S+)", f.read(), re.M)
    assert froms, "no FROM"
    for image in froms:
        # name:tag with a specific tag (not latest, not a bare release
        # name), or a digest.
        assert "@sha256:" in image or re.search(r":[\w.-]*\d{8}", image), \
            "base image not pinned: %s" % image
    print("  compose hardened; Dockerfile bases %s" % ", ".join(froms))


def test_flags_and_keys():
    help_text = worker("--help").stdout
    flags = set()
    with open(UNIT) as f:
        for line in f:
            if line.startswith("ExecStart="):
                flags.update(re.findall(r"(?<!\S)(--?[a-zA-Z][\w-]*)", line))
    for name in os.listdir(K8S):
        for doc in yaml.safe_load_all(open(os.path.join(K8S, name))):
            if not doc or doc.get("kind") not in ("Deployment", "Job"):
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                flags.update(a for a in c.get("args", []) + c.get("command", [])
                             if a.startswith("-"))
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        for m in re.finditer(r'^(?:ENTRYPOINT|CMD)\s+(\[.*\])', f.read(), re.M):
            flags.update(a for a in yaml.safe_load(m.group(1)) if a.startswith("-"))
    assert flags, "no flags found"
    for fl in sorted(flags):
        assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(fl), help_text), \
            "%s is not a flag of the worker" % fl
    print("  flags used and known: %s" % " ".join(sorted(flags)))

    with tempfile.TemporaryDirectory(prefix="zu-deploy-") as d:
        secret = os.path.join(d, "server-secret")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        os.chmod(secret, 0o400)
        cm = load_yaml("k8s/configmap.yaml")["data"]["worker.cfg"]
        cm = re.sub(r'(server_secret_file\s*=\s*)"[^"]+"', r'\1"%s"' % secret, cm)
        path = os.path.join(d, "configmap.cfg")
        with open(path, "w") as f:
            f.write(cm)
        for what, cfg, env in (("the ConfigMap's", path, {}),
                               ("worker.cfg.example", os.path.join(DEPLOY, "worker.cfg.example"),
                                {"ZIM_SERVER_SECRET": "s3cret"})):
            r = worker("-c", cfg, "--check-config", env=env)
            assert r.returncode == 0, "%s config: exit %d: %s" % (what, r.returncode, r.stderr)
            assert "s3cret" not in r.stdout
        print("  the ConfigMap's config and worker.cfg.example pass --check-config")


if __name__ == "__main__":
    run = TestRun()
    run.case(test_systemd)
    run.case(test_kubernetes)
    run.case(test_compose_and_dockerfile)
    run.case(test_flags_and_keys)
    run.finish()
