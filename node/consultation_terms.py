"""The vocabulary of consultations: positions, outcomes, statuses and limits (no imports, cheap to load)."""

POSITIONS = ("no_objection", "maintain_objection", "request_info", "info")
CONSULTED_ONLY = ("no_objection", "maintain_objection")
TEXT_NEEDED = ("info", "request_info", "maintain_objection")
OUTCOMES = ("granted", "denied")
STATUSES = ("open", "answered", "overdue", "withdrawn", "closed")
DIRECTIONS = ("inbox", "outbox")
MIN_DAYS = 5
MAX_DAYS = 120
MAX_TEXT = 4000
