"""Pseudonymised linkage of program records with NHIS data (HMAC keys, key agency, combination)."""

from analysis.linkage.keys import Secret, load_secret
from analysis.linkage.link import LinkageResult, link_world

__all__ = ["LinkageResult", "Secret", "link_world", "load_secret"]
