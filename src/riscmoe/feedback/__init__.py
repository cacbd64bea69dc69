"""Feedback: learning from labelled answers, at the members and at the borders."""

from riscmoe.feedback.learner import IMPORTANCE, Feedback, FeedbackReport

__all__ = ["IMPORTANCE", "Feedback", "FeedbackReport"]
