"""A small app for the chaos suite: every step body appends to a ledger file before it decides anything."""
