"""Feedback: learning from labelled answers, at the members and at the borders."""

from riscmoe.feedback.learner import Continuous
from riscmoe.feedback.phases import Phases
from riscmoe.feedback.protocol import Consolidating, Context, FeedbackReport, FeedbackSchedule

__all__ = ["Consolidating", "Context", "Continuous", "FeedbackReport", "FeedbackSchedule", "Phases"]
