"""Helpers shared by the API functions (CommonLayer)."""
