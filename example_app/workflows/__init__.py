"""Workflows of the example app."""
