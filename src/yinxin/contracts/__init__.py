"""Contracts: templates, money, working days and terms (issue 14)."""
