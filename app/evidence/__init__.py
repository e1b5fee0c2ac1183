"""Gathering the evidence of a self-improve target from GitHub into a snapshot."""

from app.evidence.cache import EvidenceCache
from app.evidence.gather import EvidenceError, gather_evidence

__all__ = ["EvidenceCache", "EvidenceError", "gather_evidence"]
