"""The weekly service figures."""
