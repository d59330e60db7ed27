"""Each module makes mistakes prebuild reports; nothing is generated."""
