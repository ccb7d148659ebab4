"""The course's late policy, as nbgrader's late-submission plugin: each day or part of a day after
the due date costs a share of the notebook's score.

nbgrader's ``AssignLatePenalties`` (an autograde step) calls the plugin for a submission whose
``timestamp.txt`` is later than its assignment's due date (``nbgrader db assignment add A
--duedate=...``), and records the penalty in the gradebook; ``nbgrader export`` subtracts it.
nbgrader's own ``LateSubmissionPlugin`` offers no penalty or a score of zero.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

SECONDS_PER_DAY = 24 * 60 * 60


class LatePenaltyPerDay(LateSubmissionPlugin):
    """Each started day late costs ``percent_per_day`` percent of the score, up to all of it
    (``penalty_method`` is not used).

    Example:
        >>> policy = LatePenaltyPerDay(percent_per_day=10)
        >>> policy.late_submission_penalty("bob", 20.0, total_seconds_late=60)  # one minute: one day
        2.0
        >>> policy.late_submission_penalty("bob", 20.0, total_seconds_late=2 * SECONDS_PER_DAY + 1)
        6.0
        >>> policy.late_submission_penalty("bob", 20.0, total_seconds_late=30 * SECONDS_PER_DAY)
        20.0
    """

    percent_per_day = Float(10.0, min=0.0, max=100.0,
                            help="Percent of the score lost per day or part of a day late").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = math.ceil(total_seconds_late / SECONDS_PER_DAY)
        penalty = score * min(1.0, days * self.percent_per_day / 100)
        self.log.info("%s is %d day(s) late: %g%% per day costs %g of %g points",
                      student_id, days, self.percent_per_day, penalty, score)
        return penalty
