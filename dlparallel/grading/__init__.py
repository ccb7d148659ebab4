"""Grading tools of the course, split by where they run.

Inside the student's kernel (torch, NumPy and the standard library only; the hidden tests import
them): ``checks`` (assertion helpers), ``answers`` (what the checks hand to the grader),
``integrity`` (the seal and the tripwire) and ``sandbox`` (limits a kernel graded without a sandbox
puts on itself).

On the grading host (nbgrader and Jupyter's packages; run as ``python -m dlparallel.grading`` and
named in ``nbgrader_config.py``): ``cli`` (the commands), ``startup``, ``autograde``, ``shards``,
``execute``, ``verify``, ``answer_key``, ``bubblewrap``, ``cgroups``, ``gradebook``,
``gradebook_lock``, ``cells``, ``feedback``, ``release_feedback``, ``late``, ``canvas``,
``solutions``, ``student_edition`` and ``paths``; none of them imports torch, which only the
kernel needs.
Neither the teaching library nor the kernel side imports the host side (tests/test_grading_split.py).
"""
