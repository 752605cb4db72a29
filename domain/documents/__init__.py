"""Documents: the service order (frozen content and PDF), review and case analysis."""
