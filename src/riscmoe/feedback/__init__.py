"""Feedback: learning from labelled answers, at the members and at the borders."""

from riscmoe.feedback.learner import Continuous
from riscmoe.feedback.protocol import Context, FeedbackReport, FeedbackSchedule

__all__ = ["Context", "Continuous", "FeedbackReport", "FeedbackSchedule"]
