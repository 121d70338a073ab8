"""harness.py - the tiny test harness shared by the Python test scripts.

Each script defines functions decorated with @test and ends with `run()`, which runs
them (or those whose name contains sys.argv[1]), prints `ok`/`FAIL` per test and a
final `N passed, N failed` line, and exits non-zero on failure.

Paths: ROOT is the source tree, BUILD the build directory (CNNRT_BUILD_DIR, default
ROOT/build), TMP a scratch directory for this run.
"""
import os
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CNNRT_BUILD_DIR", os.path.join(ROOT, "build"))
TMP = tempfile.mkdtemp(prefix="cnnrt-test-")
IMAGES = os.path.join(ROOT, "tests", "data", "images")

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def tool(name):
    return os.path.join(BUILD, name)


def run_tool(name, *args, check=False, env=None):
    """Runs a built executable; returns CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([tool(name)] + [str(a) for a in args], capture_output=True, text=True,
                       env=e, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError("%s %s failed (%d):\n%s" % (name, " ".join(map(str, args)),
                                                         p.returncode, p.stderr))
    return p


def synthetic_weights(model, out, *extra):
    """Writes synthetic weights for models/<model> to out (cached within the run)."""
    if not os.path.exists(out):
        run_tool("synthetic-weights", "--model", os.path.join(ROOT, "models", model), "--out", out,
                 *extra, check=True)
    return out


def run():
    only = sys.argv[1] if len(sys.argv) > 1 else None
    passed = failed = 0
    for fn in _tests:
        if only and only not in fn.__name__:
            continue
        try:
            fn()
            print("ok   %s" % fn.__name__, flush=True)
            passed += 1
        except Exception:  # noqa: BLE001 - report every failure and go on
            print("FAIL %s" % fn.__name__, flush=True)
            traceback.print_exc()
            failed += 1
    subprocess.run(["rm", "-rf", TMP])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
