"""The grading kernel's guard (dlparallel.grading.integrity) and limits (dlparallel.grading.sandbox).

Sealing and Landlock last for the life of a process, so each test runs its scenario in a fresh
Python process and reads back what happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dlparallel.grading.sandbox import landlock_abi

# Each tampering a notebook could do before a hidden test, and how to undo it.
TAMPERINGS = {
    "numpy.allclose": "numpy.allclose = lambda *a, **k: True",
    "numpy.testing.assert_allclose": "numpy.testing.assert_allclose = lambda *a, **k: None",
    "torch.allclose": "torch.allclose = lambda *a, **k: True",
    "torch.testing.assert_close": "torch.testing.assert_close = lambda *a, **k: None",
    "math.isclose": "math.isclose = lambda *a, **k: True",
    "dlparallel.grading.checks.check_tensor": "checks.check_tensor = lambda *a, **k: None",
    "dlparallel.grading.checks._close": "checks._close = lambda *a, **k: True",
    "builtins.isinstance": "builtins.isinstance = lambda *a: True",
    "torch.Tensor.__eq__ was added": "torch.Tensor.__eq__ = lambda self, other: True",
    "torch.nn.functional.cross_entropy": "torch.nn.functional.cross_entropy = lambda *a, **k: torch.tensor(0.0)",
    "the module torch was swapped": "sys.modules['torch'] = types.SimpleNamespace()",
    "a trace or profile function was installed": "sys.settrace(lambda *a: None)",
    "the name check_number was rebound": "shell.user_ns['check_number'] = lambda *a, **k: None",
    "IPython's exception handling was changed": "shell.set_custom_exc((Exception,), lambda *a, **k: None)",
    "IPython's input_transformers_post were changed": "shell.input_transformers_post.append(lambda lines: [])",
    "IPython's showtraceback was replaced": "shell.showtraceback = lambda *a, **k: None",
}

SCENARIO = textwrap.dedent('''
    import builtins, json, math, sys, types
    import numpy, torch
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(history_length=0)
    from dlparallel.grading import checks, integrity
    integrity.seal()
    integrity.verify()
    results = {}
    for label, tamper in json.loads(sys.argv[1]).items():
        saved = {"torch": sys.modules["torch"], "custom": shell.custom_exceptions,
                 "post": list(shell.input_transformers_post)}
        originals = [(owner, name, getattr(owner, name)) for owner, name in [
            (numpy, "allclose"), (numpy.testing, "assert_allclose"), (torch, "allclose"),
            (torch.testing, "assert_close"), (math, "isclose"), (checks, "check_tensor"), (checks, "_close"),
            (builtins, "isinstance"), (torch.nn.functional, "cross_entropy")]]
        exec(tamper)
        try:
            integrity.verify()
            results[label] = "not detected"
        except AssertionError as error:
            results[label] = str(error)
        for owner, name, value in originals:
            setattr(owner, name, value)
        sys.modules["torch"] = saved["torch"]
        sys.settrace(None)
        torch.Tensor.__dict__.get("__eq__") and delattr(torch.Tensor, "__eq__")
        shell.user_ns.pop("check_number", None)
        shell.__dict__.pop("showtraceback", None)
        results[label + " (repaired)"] = [shell.custom_exceptions == (), shell.input_transformers_post == saved["post"]]
        integrity.verify()
    print(json.dumps(results), flush=True)
    import os
    os._exit(0)  # skip IPython's exit hooks, which expect a history database this shell never opened
''')


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_every_tampering_is_detected_and_error_reporting_repaired():
    done = _python(SCENARIO, json.dumps(TAMPERINGS))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    for label in TAMPERINGS:
        assert results[label].startswith("the notebook changed what the tests rely on: "), (label, results[label])
        assert label in results[label], (label, results[label])
        assert results[label + " (repaired)"] == [True, True], label


def test_sealing_twice_is_refused_and_unsealed_verify_fails():
    done = _python(textwrap.dedent('''
        from dlparallel.grading import integrity
        try:
            integrity.verify()
        except AssertionError as error:
            print(error)
        integrity.seal()
        try:
            integrity.seal()
        except AssertionError as error:
            print(error)
    '''))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["the grading kernel was not sealed before the notebook ran",
                                        "the grading kernel was already sealed"]


@pytest.mark.skipif(not landlock_abi(), reason="this Linux kernel has no Landlock")
def test_sealed_kernel_sees_nothing_of_the_course_but_its_own_folder(tmp_path):
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    (course / "source" / "answers.txt").write_text("q1 = c")
    mine = course / "autograded" / "alice" / "ps1"
    mine.mkdir(parents=True)
    (tmp_path / "link-to-course").symlink_to(course)  # a link beside it must not open the course
    done = _python(textwrap.dedent(f'''
        import os, tempfile
        from dlparallel.grading import integrity
        integrity.seal(memory_limit=3 * 2**30, hide={str(course)!r}, writable=[{str(mine)!r}])
        def attempt(action):
            try:
                action()
                return "allowed"
            except PermissionError:
                return "denied"
            except MemoryError:
                return "out of memory"
        print(attempt(lambda: open({str(course / "source" / "answers.txt")!r}).read()))
        print(attempt(lambda: open({str(tmp_path / "link-to-course" / "source" / "answers.txt")!r}).read()))
        print(attempt(lambda: open({str(mine / "scratch.txt")!r}, "w").write("mine")))
        print(attempt(lambda: open({str(course / "gradebook.db")!r}, "w").write("gone")))
        print(attempt(lambda: tempfile.TemporaryFile().write(b"tmp")))
        print(attempt(lambda: open("/etc/hostname").read()))
        print(attempt(lambda: bytearray(4 * 2**30)))
    '''))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["denied", "denied", "allowed", "denied", "allowed", "allowed", "out", "of", "memory"]
    assert not (course / "gradebook.db").exists()
    assert (mine / "scratch.txt").read_text() == "mine"


def test_memory_limit_must_be_positive():
    from dlparallel.grading.sandbox import limit_memory

    with pytest.raises(ValueError, match="must be positive"):
        limit_memory(0)


def test_landlock_refuses_clearly_where_missing(monkeypatch, tmp_path):
    from dlparallel.grading import sandbox

    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.raises(OSError, match="Landlock is not available"):
        sandbox.hide_directory(tmp_path, [], [])


def test_grading_modules_have_no_side_effects_on_import():
    done = _python("import dlparallel.grading.execute, dlparallel.grading.cells, dlparallel.grading.integrity; "
                   "import resource; print(resource.getrlimit(resource.RLIMIT_DATA)[0] == resource.RLIM_INFINITY)")
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_summary_warns_where_course_files_cannot_be_hidden(monkeypatch):
    from dlparallel.grading import autograde

    report = autograde.SubmissionReport("alice", "ps1", "graded", 20.0, 25.0, sandboxed=False)
    monkeypatch.setattr(autograde, "landlock_abi", lambda: 0)
    assert autograde.ISOLATION_WARNING in autograde.format_summary([report])
    monkeypatch.setattr(autograde, "landlock_abi", lambda: 7)
    assert autograde.ISOLATION_WARNING not in autograde.format_summary([report])
