"""``python -m dlparallel.grading``: the instructor's commands (:mod:`dlparallel.grading.cli`)."""

if __name__ == "__main__":
    from dlparallel.grading.startup import skip_iri_formats

    skip_iri_formats()  # before the commands import nbformat
    from dlparallel.grading.cli import main

    raise SystemExit(main())
