"""Sharing policies, the egress gate, disclosure control and standard definitions."""
