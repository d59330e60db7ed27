"""RPC functions of the example app."""
