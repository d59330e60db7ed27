"""The example app: user onboarding (remote mode) and order invoicing (inline mode)."""
