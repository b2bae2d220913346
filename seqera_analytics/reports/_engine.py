"""Where reports run: an Ibis backend wrapped with what reports need of it.

The default is one embedded DuckDB per process (in memory, spilling to the system temp
directory, every core); pass ``backend=spark_backend()`` (or any ``SparkSession``) to run
the same expressions on Spark. Either way the engine takes Arrow tables and committed
Parquet files in and hands Arrow out, and presents every input in the canonical form of
:data:`CANONICAL`: the frames schema's columns, with every timestamp as ``int64`` ms since
the epoch (UTC) and every duration as ``int64`` ms, so report expressions are the same
integer arithmetic on every engine (see :mod:`._rules`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa

from .._exceptions import ReportError
from ..frames import RUNS, TASKS, TableSpec

__all__ = ["CANONICAL", "SPECS", "Engine", "engine_for", "spark_backend"]

SPECS: dict[str, TableSpec] = {"tasks": TASKS, "runs": RUNS}
SPARK_LOCAL_ONLY = ("Spark reads a local-disk cache only (the pyspark package has no S3 connector "
                    "jars): copy the cache to local disk, or use the default DuckDB engine.")


def _canonical_type(t: pa.DataType) -> pa.DataType:
    return pa.int64() if pa.types.is_timestamp(t) or pa.types.is_duration(t) else t


#: The canonical Arrow schema of each table as reports see it.
CANONICAL: dict[str, pa.Schema] = {
    name: pa.schema([pa.field(c.name, _canonical_type(c.type)) for c in spec.columns])
    for name, spec in SPECS.items()
}


# ----------------------------------------------------------------------------------- engines
class Engine:
    """An Ibis backend plus what the reports need of it: Arrow in, files in, Arrow out.

    Reports on one engine are serialised through :attr:`lock` (a DuckDB connection is not
    safe to share between threads mid-query, and a report creates views before it runs).
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = str(getattr(backend, "name", ""))
        if self.name not in ("duckdb", "pyspark"):
            raise ReportError(
                f"reports run on DuckDB (the default) or Spark (backend=spark_backend()); "
                f"got an ibis {self.name or type(backend).__name__!r} backend"
            )
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Engine({self.name})"

    # ---------------------------------------------------------------- inputs
    def from_arrow(self, table: pa.Table, cleanup: list[Callable[[], None]]) -> ir.Table:
        """An engine table over an Arrow table (DuckDB scans it in place)."""
        if self.name == "pyspark":
            # ibis' own PySpark memtables go through pandas and lose nullable integers.
            session = self.backend._session
            view = f"seqera_analytics_{uuid.uuid4().hex}"
            if table.num_rows:
                df = session.createDataFrame(table)
            else:
                df = session.createDataFrame([], _spark_schema(table.schema))
            df.createOrReplaceTempView(view)
            cleanup.append(lambda: session.catalog.dropTempView(view))
            return self._view(view, table.schema)
        # Registered by name and unregistered after the report: ibis' memtables stay on the
        # connection (and keep their data alive) for as long as the process runs.
        con = self.backend.con
        view = f"seqera_analytics_{uuid.uuid4().hex}"
        con.register(view, table)
        cleanup.append(lambda: con.unregister(view))
        return self._view(view, table.schema)

    def from_files(
        self, table: str, files: Sequence[Path], base: Path, cleanup: list[Callable[[], None]]
    ) -> ir.Table:
        """An engine table over committed Parquet files of a cache table, normalised to
        :data:`CANONICAL` (timestamps to int64 ms, the personal workspace's partition id 0
        back to null)."""
        schema = CANONICAL[table]
        if not files:
            return self.from_arrow(schema.empty_table(), cleanup)
        times = {c.name for c in SPECS[table].columns if pa.types.is_timestamp(c.type)}
        if self.name == "pyspark":
            from pyspark.sql import functions as F

            session = self.backend._session
            # File paths are globs to Hadoop (basePath is not): escape what would match
            # other directories.
            df = session.read.option("basePath", str(base)).parquet(
                *(_hadoop_literal(str(f)) for f in files)
            )
            cols = []
            for f in schema:
                c = F.col(f.name)
                if f.name in times:
                    c = F.unix_millis(c)
                elif f.name == "workspace_id":
                    c = F.when(c.cast("long") == 0, None).otherwise(c.cast("long"))
                cols.append(c.alias(f.name))
            view = f"seqera_analytics_{uuid.uuid4().hex}"
            df.select(*cols).createOrReplaceTempView(view)
            cleanup.append(lambda: session.catalog.dropTempView(view))
            return self._view(view, schema)
        listed = ", ".join("'" + _duckdb_literal(str(p)).replace("'", "''") + "'" for p in files)
        cols = []
        for f in schema:
            if f.name in times:
                cols.append(f'epoch_ms("{f.name}") AS "{f.name}"')
            elif f.name == "workspace_id":
                cols.append('NULLIF("workspace_id", 0) AS "workspace_id"')
            else:
                cols.append(f'"{f.name}"')
        view = f"seqera_analytics_{uuid.uuid4().hex}"
        self.backend.raw_sql(
            f'CREATE TEMP VIEW "{view}" AS SELECT {", ".join(cols)} FROM read_parquet([{listed}], '
            "hive_partitioning = true, hive_types = {'workspace_id': BIGINT, 'month': VARCHAR})"
        )  # (DuckDB's execute returns the connection itself: nothing to close)
        cleanup.append(lambda: self.backend.raw_sql(f'DROP VIEW IF EXISTS "{view}"'))
        return self._view(view, schema)

    def from_dataset(self, table: str, dataset: Any, cleanup: list[Callable[[], None]]) -> ir.Table:
        """An engine table over a ``pyarrow.dataset`` of a cache table (a cache on an object
        store: DuckDB scans it through pyarrow's filesystem, no httpfs needed), with its
        timestamps and durations read as int64 ms (``Cache.arrow_dataset(..., int_times=True)``),
        normalised to :data:`CANONICAL` as :meth:`from_files` does; ``None``: no files.

        Raises
        ------
        ReportError
            On Spark (it reads a local-disk cache only).
        """
        if self.name == "pyspark":
            raise ReportError(SPARK_LOCAL_ONLY)
        schema = CANONICAL[table]
        if dataset is None:
            return self.from_arrow(schema.empty_table(), cleanup)
        con = self.backend.con
        source = f"seqera_analytics_ds_{uuid.uuid4().hex}"
        con.register(source, dataset)
        cleanup.append(lambda: con.unregister(source))
        cols = []
        for f in schema:
            if f.name == "workspace_id":
                cols.append('NULLIF("workspace_id", 0) AS "workspace_id"')
            else:
                cols.append(f'"{f.name}"')
        view = f"seqera_analytics_{uuid.uuid4().hex}"
        self.backend.raw_sql(f'CREATE TEMP VIEW "{view}" AS SELECT {", ".join(cols)} FROM "{source}"')
        cleanup.insert(0, lambda: self.backend.raw_sql(f'DROP VIEW IF EXISTS "{view}"'))
        return self._view(view, schema)

    def from_duckdb_query(self, sql: str, schema: pa.Schema, cleanup: list[Callable[[], None]]) -> ir.Table:
        """An engine table over a DuckDB query of ``schema`` (DuckDB only: files it reads
        itself, without a copy through Arrow)."""
        assert self.name == "duckdb"
        view = f"seqera_analytics_{uuid.uuid4().hex}"
        self.backend.raw_sql(f'CREATE TEMP VIEW "{view}" AS {sql}')
        cleanup.append(lambda: self.backend.raw_sql(f'DROP VIEW IF EXISTS "{view}"'))
        return self._view(view, schema)

    def _view(self, name: str, schema: pa.Schema) -> ir.Table:
        """A table expression over a view the engine holds, with the schema we know (asking
        the engine would read every file's footer again)."""
        return ops.DatabaseTable(
            name,
            schema=ibis.Schema.from_pyarrow(schema),
            source=self.backend,
            namespace=ops.Namespace(),
        ).to_expr()

    # ---------------------------------------------------------------- execution
    def execute(self, expr: ir.Table) -> pa.Table:
        with self.lock:
            if self.name != "pyspark":
                return self.backend.to_pyarrow(expr)
            # ibis collects Spark results through pandas (nullable integers become floats);
            # Spark 4 hands Arrow over directly.
            df = self.backend._session.sql(self.backend.compile(expr))
            if not hasattr(df, "toArrow"):  # Spark 3.5
                return pa.Table.from_pandas(df.toPandas(), preserve_index=False)
            return df.toArrow()

    def file_problem(self, exc: BaseException) -> str | None:
        """``"missing"`` or ``"damaged"`` when ``exc`` says a file of the query is gone or
        unreadable (a sync may have replaced it mid-read); ``None`` for anything else."""
        text = f"{type(exc).__name__}: {exc}"
        if any(s in text for s in _MISSING):
            return "missing"
        if any(s in text for s in _DAMAGED):
            return "damaged"
        return None


_MISSING = ("No such file", "No files found", "FileNotFound", "PATH_NOT_FOUND", "does not exist")
_DAMAGED = (
    "magic bytes",
    "not a parquet file",
    "not a Parquet file",
    "too small to be a Parquet",
    "Could not read footer",
    "CANNOT_READ_FILE_FOOTER",
    "FAILED_READ_FILE",
    "Corrupt",
    "corrupt",
    "Invalid Parquet",
    "Couldn't deserialize thrift",
)


def _duckdb_literal(path: str) -> str:
    """A path DuckDB's glob matches only literally (``[``, ``*``, ``?``, ``{`` as classes)."""
    return "".join(f"[{c}]" if c in "[*?{" else c for c in path)


def _hadoop_literal(path: str) -> str:
    """A path Hadoop's glob matches only literally (special characters escaped)."""
    return "".join(f"\\{c}" if c in "[]{}*?\\" else c for c in path)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    def conv(t: pa.DataType) -> Any:
        if pa.types.is_integer(t):
            return T.LongType()
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_list(t):
            return T.ArrayType(conv(t.value_type))
        return T.StringType()

    return T.StructType([T.StructField(f.name, conv(f.type), True) for f in schema])


_DEFAULT: Engine | None = None
_DEFAULT_LOCK = threading.Lock()


def _default_engine() -> Engine:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            # Spill to the system temp directory, not to ./.tmp in the user's working dir.
            spill = Path(tempfile.gettempdir()) / f"seqera-analytics-duckdb-{os.getpid()}"
            # Footers are parsed once per file (cache files are written once, never
            # changed); result order is ours to set (finish() sorts), which lets DuckDB
            # stream with less memory.
            _DEFAULT = Engine(
                ibis.duckdb.connect(
                    temp_directory=str(spill),
                    enable_object_cache=True,
                    preserve_insertion_order=False,
                )
            )
            import atexit

            atexit.register(shutil.rmtree, spill, ignore_errors=True)
        return _DEFAULT


_ENGINES: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()


def engine_for(backend: Any = None) -> Engine:
    """The engine for ``backend``: ``None`` -> the process's DuckDB; an ibis DuckDB or
    PySpark backend; or a ``pyspark.sql.SparkSession`` (wrapped with ibis). One engine (and
    one lock) per backend, however many reports and threads use it.

    Raises
    ------
    ReportError
        Anything else.
    """
    if backend is None:
        return _default_engine()
    if isinstance(backend, Engine):
        return backend
    with _DEFAULT_LOCK:
        try:
            found = _ENGINES.get(backend)
        except TypeError:  # not weakly referenceable: not a backend either
            found = None
        if found is None:
            if type(backend).__name__ == "SparkSession":
                found = Engine(_ibis_pyspark(backend))
            else:
                found = Engine(backend)
            try:
                _ENGINES[backend] = found
            except TypeError:
                pass
        return found


def _ibis_pyspark(session: Any) -> Any:
    try:
        import ibis.backends.pyspark
    except ImportError as exc:  # pragma: no cover - pyspark present but ibis extra missing
        raise ReportError(
            f"running reports on Spark needs ibis' PySpark support ({exc}); "
            "pip install 'seqera-analytics[spark]'"
        ) from None
    # ibis sets the session time zone to UTC, which the period rules rely on.
    return ibis.pyspark.connect(session)


def spark_backend(session: Any = None, *, master: str = "local[*]", **conf: str) -> Engine:
    """A Spark engine to pass as ``backend=`` to any report.

    Parameters
    ----------
    session : pyspark.sql.SparkSession, optional
        An existing session (e.g. on Databricks or a cluster); its SQL time zone is set to
        UTC, which the period rules need. Default: get or create a session.
    master : str, default "local[*]"
        Master URL of a new session (ignored with ``session``).
    **conf : str
        Extra Spark settings of a new session (``{"spark.executor.memory": "8g"}``).

    Returns
    -------
    Engine
        Reports run on it give the same figures as on the default DuckDB: counts exactly,
        money to the cent, other figures to a relative 1e-9 (quantiles are exact on both:
        Spark's ``percentile`` and DuckDB's ``quantile_cont`` interpolate linearly).

    Raises
    ------
    ReportError
        PySpark is not installed, or Spark cannot start (no Java runtime, say); the message
        says what is missing.
    """
    if session is None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ReportError(
                "Spark is not installed: pip install 'seqera-analytics[spark]' (PySpark; it also "
                "needs a Java 17 runtime)"
            ) from None
        if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
            raise ReportError(
                "Spark cannot start: no Java runtime (java is not on PATH and JAVA_HOME is not "
                "set); install Java 17, e.g. apt-get install openjdk-17-jre-headless"
            )
        builder = SparkSession.builder.master(master).appName("seqera-analytics")
        settings = {
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(max(2, (os.cpu_count() or 2) * 2)),
            **conf,
        }
        for k, v in settings.items():
            builder = builder.config(k, v)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the JVM did not come up: say why in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReportError(f"Spark could not start: {first}") from None
    return Engine(_ibis_pyspark(session))
