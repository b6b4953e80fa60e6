"""Byte-exact device emulators on pseudo-terminals, driven by the simulated patient."""
