"""Feature blueprints: each parses requests, calls the domain, and renders."""
