"""Tests, mirroring the qa_meeting package."""
