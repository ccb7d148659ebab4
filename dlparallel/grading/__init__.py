"""Grading tools of the course: assertions for hidden tests, worked solutions, class autograding.

``checks`` is imported by the problem sets' tests inside the student's kernel; ``solutions`` and
``autograde`` are the instructor's side, run as ``python -m dlparallel.grading``.
"""
