"""Requests (需求): intake, numbering, who may see one (access), assignment and escalation, progress notes, the
technician's remote work, on-site visits, the request state machine (workflow), the supervisor's board and the
device catalog."""
