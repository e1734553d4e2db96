"""Storm properties for lazr enumerations and aware UTC datetimes."""

from __future__ import annotations

from datetime import timezone
from functools import partial

from lazr.enum import DBItem
from storm.properties import DateTime
from storm.properties import SimpleProperty
from storm.variables import Variable

__all__ = ["DBEnum", "NameEnum", "UTCDateTime"]

#: Datetimes come back from PostgreSQL aware and in UTC.
UTCDateTime = partial(DateTime, tzinfo=timezone.utc)


class DBEnumVariable(Variable):
    """Stores a `DBItem` as its integer value."""

    __slots__ = ("_enum",)

    def __init__(self, *args, **kwargs):
        self._enum = kwargs.pop("enum")
        super().__init__(*args, **kwargs)

    def parse_set(self, value, from_db):
        if from_db:
            return self._enum.items[value]
        if not isinstance(value, DBItem) or value.enum != self._enum:
            raise TypeError(
                f"Expected an item of {self._enum.name}, got {value!r}"
            )
        return value

    def parse_get(self, value, to_db):
        return value.value if to_db else value


class DBEnum(SimpleProperty):
    """A column holding an item of a lazr `DBEnumeratedType`."""

    variable_class = DBEnumVariable


class NameEnumVariable(Variable):
    """Stores an item of a plain `EnumeratedType` as its name."""

    __slots__ = ("_enum",)

    def __init__(self, *args, **kwargs):
        self._enum = kwargs.pop("enum")
        super().__init__(*args, **kwargs)

    def parse_set(self, value, from_db):
        if from_db:
            return self._enum.getTermByToken(value).value
        if value not in self._enum:
            raise TypeError(
                f"Expected an item of {self._enum.name}, got {value!r}"
            )
        return value

    def parse_get(self, value, to_db):
        return value.name if to_db else value


class NameEnum(SimpleProperty):
    """A column holding an item of a lazr `EnumeratedType` by name."""

    variable_class = NameEnumVariable
