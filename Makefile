# The course's commands. `make lab` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# What `make lab` installs (the course, as a student has it) and what `make test` adds (test tools).
COURSE_STAMP := $(VENV)/.installed-course
STAMP := $(VENV)/.installed-test
# Extra flags for pip, e.g. PIP_FLAGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_FLAGS ?=
LAB_PORT ?= 8888
# The folder `make lab` serves and runs in (nbgrader reads that folder's nbgrader_config.py), and
# extra flags for `jupyter lab`: the browser tests serve a copy headless on a free port with these.
LAB_ROOT ?= .
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# The GPU machine's own Python, which already has CUDA PyTorch (see the README).
GPU_PYTHON ?= python3
# Wheels of what the GPU machine lacks, for Python 3.12 on x86-64 Linux.
GPU_WHEELS := nbval ipykernel nbclient ipywidgets hypothesis numpy==2.4.6

.PHONY: install browser bubblewrap postgres lab test test-fast lint lessons release solutions student roster collect \
	zip-collect autograde merge feedback release-feedback export gpu-check gpu-wheels clean
# Notebooks run with the course's Python first on PATH, fixed hash seed, matplotlib's own backend.
NB_ENV := env -u MPLBACKEND PATH=$(abspath $(BIN)):$$PATH PYTHONHASHSEED=0
# The problem sets (nbgrader assignments): every folder of source/, or ASSIGNMENTS="ps1_backprop ...".
ASSIGNMENTS ?= $(notdir $(wildcard source/ps*))
NBGRADER := $(NB_ENV) $(BIN)/nbgrader

install: $(STAMP)

# pip byte-compiles what it installs on one core; compileall does it on every core instead. As with
# pip, a file that does not compile (torch ships some for newer Pythons) is only left uncompiled.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --no-compile $(PIP_FLAGS) -c constraints.txt
BYTE_COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true

$(COURSE_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[course]'
	$(BYTE_COMPILE)
	touch $@

# One pip run for both where neither is installed yet (a second would resolve everything again).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[course,test]'
	$(BYTE_COMPILE)
	touch $(COURSE_STAMP) $@

lab: $(COURSE_STAMP)
	cd "$(LAB_ROOT)" && $(NB_ENV) $(abspath $(BIN))/jupyter lab $(ROOT_FLAG) --port=$(LAB_PORT) \
	    --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/lessons $(LAB_ARGS)

# $(call apt_install,PACKAGE,WHAT IT IS FOR,WHAT HAPPENS WITHOUT IT): install a Debian package with
# apt where this user may (root, or sudo without a password); elsewhere say what that means.
apt_install = if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    echo "Installing Debian's $(1) $(2)"; \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	else echo "No $(1), and no apt-get as root or sudo to install it: $(3)."; fi

# Debian's Chromium for the browser tests (tests/test_browser.py); without it those tests skip, or
# fail when CI is set.
browser:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null; then :; \
	else $(call apt_install,chromium,for the browser tests,the browser tests will be skipped); fi

# Debian's PostgreSQL server, which a test grades into (tests/test_shards.py); without it that test
# skips, or fails when CI is set. The test starts a server of its own; none needs to run.
postgres:
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	else $(call apt_install,postgresql,for the PostgreSQL gradebook test,that test will be skipped); fi

# Debian's bubblewrap, which autograding runs each student's kernel in (see the README's instructor
# guide); without it `make autograde` refuses to grade unless UNSANDBOXED=1.
bubblewrap:
	@if command -v bwrap >/dev/null; then :; \
	else $(call apt_install,bubblewrap,for sandboxed autograding,autograding needs UNSANDBOXED=1); fi

# When make started, for the time `make test` and `make test-fast` print at the end (set-up included).
START := $(shell date +%s)
ELAPSED = s=$$(( $$(date +%s) - $(START) )); echo "make $@ took $$((s / 60)) min $$((s % 60)) s"
PYTEST := $(NB_ENV) $(BIN)/python -m pytest -p no:cacheprovider
# The library's tests and doctests, and every lesson under nbval in strict mode.
CHECKS := tests --doctest-modules dlparallel --nbval lessons --nbval-current-env --nbval-sanitize-with lessons/sanitize.cfg

# ruff (configured in pyproject.toml) over the library, the tests, the benchmarks and the lessons' code cells.
LINT := $(BIN)/ruff check dlparallel tests benchmarks lessons

lint: $(STAMP)
	$(LINT)

# What CI runs: lint, then every test (the grading pipeline and the browser tests included).
test: $(STAMP) browser bubblewrap postgres
	$(LINT) && $(PYTEST) $(CHECKS); status=$$?; $(ELAPSED); exit $$status

# The edit loop: lint, the library's tests and doctests, the lessons under nbval; without the tests
# marked `pipeline` (nbgrader runs, installs, servers) or `browser`.
test-fast: $(STAMP)
	$(LINT) && $(PYTEST) -m "not pipeline and not browser" $(CHECKS); status=$$?; $(ELAPSED); exit $$status

# Re-execute every lesson in place, so that its committed outputs are this code's outputs.
lessons: $(COURSE_STAMP)
	$(NB_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace lessons/*.ipynb

# Instructor's pipeline (see the README): nbgrader with this repository as the course directory.
release: $(COURSE_STAMP)
	for a in $(ASSIGNMENTS); do $(NBGRADER) generate_assignment $$a --force && \
	    $(NBGRADER) release_assignment $$a --force || exit 1; done

solutions: $(COURSE_STAMP)
	$(BIN)/python -m dlparallel.grading solutions

# What students receive (see the README): dist/student/, from the lessons and the release.
student: release
	$(BIN)/python -m dlparallel.grading student --out dist/student --replace

# The class list (columns id,first_name,last_name,email and, for Canvas, lms_user_id) into the gradebook.
ROSTER ?= roster.csv
roster: $(COURSE_STAMP)
	$(NBGRADER) db student import $(ROSTER)

# Each student's newest submission from the exchange into submitted/<student>/<assignment>/ (a newer
# one replaces what was collected before); BEFORE_DUEDATE=1 takes the newest one before the due date.
BEFORE_DUEDATE ?=
collect: $(COURSE_STAMP)
	for a in $(ASSIGNMENTS); do $(NBGRADER) collect $$a --update \
	    $(if $(filter-out 0,$(BEFORE_DUEDATE)),--before-duedate,) || exit 1; done

# Submissions downloaded from an LMS: downloaded/<assignment>/archive/ (zips or files) is extracted to
# downloaded/<assignment>/extracted/ and each notebook goes to submitted/<student>/<assignment>/,
# replacing what those students had there (nbgrader_config.py names the LMS's file names).
zip-collect: $(COURSE_STAMP)
	@found=; for a in $(ASSIGNMENTS); do [ -d downloaded/$$a/archive ] || continue; found=1; \
	    echo "nbgrader zip_collect $$a --force"; $(NBGRADER) zip_collect $$a --force || exit 1; done; \
	[ -n "$$found" ] || echo "Nothing to collect: put the LMS's download in downloaded/<assignment>/archive/"

# Students graded at the same time (default: this machine's cores); UNSANDBOXED=1 grades where
# bubblewrap cannot run (the summary says so). SHARD=I/N RESULT=PATH grades the I-th (from 0) of N
# slices of the class and writes its grades to PATH, for `make merge` (see the README).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
UNSANDBOXED ?=
SHARD ?=
RESULT ?=
autograde: $(COURSE_STAMP) bubblewrap
	$(NB_ENV) $(BIN)/python -m dlparallel.grading autograde $(ASSIGNMENTS) --jobs $(JOBS) \
	    $(if $(filter-out 0,$(UNSANDBOXED)),--unsandboxed,) $(if $(SHARD),--shard $(SHARD),) \
	    $(if $(RESULT),--result $(RESULT),)

# The result files of sharded `make autograde` runs, written into this course's gradebook and autograded/.
RESULTS ?=
merge: $(COURSE_STAMP)
	$(NB_ENV) $(BIN)/python -m dlparallel.grading merge $(RESULTS)

# Every assignment's feedback, even when one student's cannot be made (nbgrader names them).
feedback: $(COURSE_STAMP)
	status=0; for a in $(ASSIGNMENTS); do $(NBGRADER) generate_feedback $$a --force || status=1; done; exit $$status

# Each student's feedback into the exchange, where their Assignments panel fetches it.
release-feedback: $(COURSE_STAMP)
	$(NB_ENV) $(BIN)/python -m dlparallel.grading.release_feedback $(ASSIGNMENTS)

# Every score in grades.csv (nbgrader's CSV); LMS=canvas writes canvas_grades.csv for Canvas's gradebook.
LMS ?=
EXPORT_canvas := --exporter=dlparallel.grading.canvas.CanvasExportPlugin --to canvas_grades.csv
export: $(COURSE_STAMP)
	$(NBGRADER) export $(if $(LMS),$(or $(EXPORT_$(LMS)),$(error LMS=$(LMS) is not known; LMS=canvas is)),--to grades.csv)

gpu-check:
	GPU_PYTHON=$(GPU_PYTHON) bash benchmarks/gpu_check.sh

gpu-wheels:
	$(PYTHON) -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	    --platform manylinux2014_x86_64 --platform manylinux_2_34_x86_64 --platform any \
	    -d .whl $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .whl .gpu-out dist
