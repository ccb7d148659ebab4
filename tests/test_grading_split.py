"""Grading code is split by where it runs: what runs inside the student's kernel needs neither the
grading host's packages nor its modules, and the teaching library imports none of them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imported by the hidden tests and the grading kernel's seal: torch, NumPy and the standard library only.
KERNEL_SIDE = ["dlparallel.grading.checks", "dlparallel.grading.integrity", "dlparallel.grading.sandbox",
               "dlparallel.grading.answers"]
HOST_PACKAGES = {"nbgrader", "nbconvert", "nbclient", "jupyter_client"}

IMPORTED = """
import importlib, json, pkgutil, sys
import dlparallel
teaching = [f"dlparallel.{m.name}" for m in pkgutil.iter_modules(dlparallel.__path__) if m.name != "grading"]
for name in teaching + [f"dlparallel.exercises.{m.name}" for m in pkgutil.iter_modules(
        importlib.import_module("dlparallel.exercises").__path__)] + sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_teaching_library_and_the_kernel_side_import_nothing_of_the_grading_host():
    done = subprocess.run([sys.executable, "-c", IMPORTED, *KERNEL_SIDE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = json.loads(done.stdout.splitlines()[-1])
    assert not HOST_PACKAGES & {name.split(".")[0] for name in modules}
    assert sorted(m for m in modules if m.startswith("dlparallel.grading.")) == sorted(KERNEL_SIDE)


HOST_SIDE = """
import importlib, json, pkgutil, sys
import dlparallel.grading
kernel_side = set(sys.argv[1:])
host = [f"dlparallel.grading.{m.name}" for m in pkgutil.iter_modules(dlparallel.grading.__path__)
        if f"dlparallel.grading.{m.name}" not in kernel_side and m.name != "__main__"]
for name in host:
    importlib.import_module(name)
print(json.dumps({"host": host, "modules": sorted(sys.modules)}))
"""


def test_the_grading_host_imports_neither_torch_nor_the_teaching_library():
    """The grader starts one process per student: it must not pay for torch and matplotlib (seconds)."""
    done = subprocess.run([sys.executable, "-c", HOST_SIDE, *KERNEL_SIDE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.splitlines()[-1])
    assert "dlparallel.grading.autograde" in imported["host"] and "dlparallel.grading.cli" in imported["host"]
    heavy = {name for name in imported["modules"] if name.split(".")[0] in ("torch", "matplotlib", "numba")}
    teaching = {name for name in imported["modules"] if name.startswith("dlparallel.")
                and not name.startswith("dlparallel.grading")}
    assert not heavy and not teaching, sorted(heavy | teaching)[:10]


def test_the_library_lists_every_teaching_module_and_imports_them_on_use():
    import pkgutil

    import dlparallel

    found = {m.name for m in pkgutil.iter_modules(dlparallel.__path__)} - {"grading", "ddp_script"}
    assert set(dlparallel.MODULES) == found
    assert "fit" in dir(dlparallel) and dlparallel.fit is dlparallel.training.fit
    with pytest.raises(AttributeError, match="has no attribute 'fitt'"):
        dlparallel.fitt  # noqa: B018
