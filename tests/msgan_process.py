"""Running ``python -m msgan`` as a user does, from the tests: one environment, one runner, one
check of the error contract (one 'msgan: error:' line, exit 2, never a traceback)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def msgan_env(quiet=True):
    """This environment with msgan importable from the checkout; ``quiet`` silences MindSpore's
    C++ log as the run_*.sh scripts do (False: as a user calling msgan without them)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    if quiet:
        env["GLOG_v"] = "3"
    else:
        env.pop("GLOG_v", None)
    return env


def run_msgan(*args, cwd=ROOT, timeout=900, quiet_env=True):
    """``msgan ARGS`` in a subprocess, output captured as text."""
    return subprocess.run([sys.executable, "-m", "msgan", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=msgan_env(quiet_env), cwd=cwd)


def assert_clean_error(r, fragment):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("msgan: error:")]
    assert len(errors) == 1, r.stderr
    assert fragment in errors[0], errors[0]
