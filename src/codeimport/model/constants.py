"""SQL constants shared by the models."""

from __future__ import annotations

from storm.expr import SQL

__all__ = ["UTC_NOW"]

#: The current transaction's start time: one transaction, one "now".
UTC_NOW = SQL("CURRENT_TIMESTAMP")
