"""Requests and dispatch: intake, numbering, assignment, the request state machine, the supervisor's board,
the device catalog."""
