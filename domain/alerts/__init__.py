"""Alerts: who must act is told, in the app, by Web Push and by e-mail; the outbox that keeps mail until sent."""
