"""Service clocks: the policy's thresholds, the clocks of a request, working days."""
