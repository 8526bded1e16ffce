"""QA Meeting: the POCUS case presenter for ultrasound quality-assurance meetings."""

__version__ = "0.1.0"
