"""Plain SQL for the statements every step runs on a worker (claim, load, lock, record, what is left).

The statements themselves are in ``runner`` and ``scheduler``; this builds and runs them. Each is one
short statement the database answers in tens of microseconds, while the ORM spent a millisecond or
more of Python building each (bench/README.md, "Where a step's time goes"). What is written and read
is what the ORM writes and reads: identifiers come from the models' metadata, every value is a
parameter prepared by its model field, and every column read goes through the converters the ORM
applies to it (``get_db_converters``), so instances come out as a queryset would build them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any, Any, Any], Any]


def _quote(name: str) -> str:
    return str(connection.ops.quote_name(name))


@functools.cache
def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """A concrete field by name or attname (``execution`` and ``execution_id`` alike), looked up once."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), name
    assert field.concrete, name
    return field


def table(model: type[models.Model]) -> str:
    return _quote(model._meta.db_table)


def column(model: type[models.Model], name: str, alias: str = "") -> str:
    quoted = _quote(str(_field(model, name).column))
    return f"{alias}.{quoted}" if alias else quoted


@functools.cache
def _reader(model: type[models.Model], name: str) -> tuple[str, Any, tuple[Converter, ...]]:
    """A column's attname, its expression and the converters the ORM applies to what is read from it."""
    field = _field(model, name)
    col = field.get_col(model._meta.db_table)
    return field.attname, col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))


def build(model: type[M], names: Sequence[str], values: Sequence[Any]) -> M:
    """An instance from columns read in plain SQL (``names`` in any order); the rest is deferred."""
    found: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        attname, col, converters = _reader(model, name)
        for convert in converters:
            value = convert(value, col, connection)
        found[attname] = value
    ordered = [f.attname for f in model._meta.concrete_fields if f.attname in found]
    return model.from_db(connection.alias, ordered, [found[name] for name in ordered])


def value(model: type[models.Model], name: str, given: Any) -> Any:
    """``given`` as the ORM writes it to the column (JSON encoded, datetimes adapted, ...)."""
    return _field(model, name).get_db_prep_save(given, connection)


@functools.cache
def _update_sql(model: type[models.Model], names: tuple[str, ...], where: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{column(model, name)} = %s" for name in names)
    conditions = " AND ".join(f"{column(model, name)} = %s" for name in where)
    return f"UPDATE {table(model)} SET {assignments} WHERE {conditions}"  # noqa: S608


def update(model: type[models.Model], values: dict[str, Any], where: dict[str, Any]) -> int:
    """``UPDATE ... SET values WHERE where`` (equalities); the number of rows it changed."""
    params = [value(model, name, given) for name, given in values.items()]
    params += [_field(model, name).get_db_prep_value(given, connection) for name, given in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, tuple(values), tuple(where)), params)
        return int(cursor.rowcount)


@functools.cache
def _insert_sql(model: type[models.Model], names: tuple[str, ...]) -> str:
    columns = ", ".join(column(model, name) for name in names)
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608


def insert(model: type[models.Model], values: dict[str, Any]) -> None:
    """One row, without reading its primary key back."""
    params = [value(model, name, given) for name, given in values.items()]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, tuple(values)), params)


@functools.cache
def _select_sql(model: type[models.Model], lock: bool) -> tuple[str, tuple[str, ...]]:
    names = tuple(f.attname for f in model._meta.concrete_fields)
    columns = ", ".join(column(model, name) for name in names)
    sql = f"SELECT {columns} FROM {table(model)} WHERE {column(model, model._meta.pk.attname)} = %s"  # noqa: S608
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql, names


def get(model: type[M], pk: int, *, lock: bool = False) -> M:
    """The row with every column (``lock``: ``FOR UPDATE`` where the database has it); DoesNotExist otherwise."""
    sql, names = _select_sql(model, lock)
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} {pk} does not exist")  # type: ignore[attr-defined]
    return build(model, names, row)
