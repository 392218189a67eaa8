"""The linked extract's tables as NHIS delivers them: Parquet, CSV (UTF-8 or CP949) or SAS7BDAT.

Every table is found by its name in the extract folder (``claims.csv``, ``CLAIMS.sas7bdat``, ...; the name
is matched without regard to case) and a CSV or SAS file is converted once, streamed in blocks, to Parquet in
a staging folder, with the documented column names whatever their case and the text columns read as text
(so that FORM_CD "03" stays "03"). The panel then reads every table the same way.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from analysis.panel.schema import SCHEMA, SchemaError

SUFFIXES = (".parquet", ".csv", ".sas7bdat")
SAS_ROWS = 500_000  # rows per block read from a SAS file


def find_table(folder: Path, name: str) -> Path | None:
    """The file of table ``name`` in ``folder`` (one of SUFFIXES, any case), or None; two files for one
    table are an error."""
    hits = [p for p in folder.iterdir() if p.stem.lower() == name and p.suffix.lower() in SUFFIXES] \
        if folder.is_dir() else []
    if len(hits) > 1:
        raise SchemaError(f"linked extract: table {name!r} is given twice: {sorted(p.name for p in hits)}")
    return hits[0] if hits else None


def csv_encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) or CP949, decided from the file's first 4 MB."""
    with path.open("rb") as fh:
        head = fh.read(4 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    cut = head.rfind(b"\n") if len(head) == 4 << 20 else len(head)
    for enc in ("utf-8", "cp949"):
        try:
            head[: cut if cut > 0 else len(head)].decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise SchemaError(f"table file {path.name}: text is neither UTF-8 nor CP949")


def _canonical(name: str, columns: list[str], path: Path) -> list[str]:
    """The file's column names in the schema's spelling (matched without regard to case)."""
    spelling = {c.lower(): c for c in SCHEMA[name]}
    out = [spelling.get(c.strip().lower(), c.strip()) for c in columns]
    dup = sorted({c for c in out if out.count(c) > 1})
    if dup:
        raise SchemaError(f"table file {path.name}: column(s) {dup} given twice")
    return out


def _text_columns(name: str) -> list[str]:
    return [c for c, col in SCHEMA[name].items() if col.kind == "str"]


def convert(path: Path, name: str, dst: Path) -> Path:
    """Write table ``name`` of a CSV or SAS7BDAT file to Parquet at ``dst`` (streamed); returns ``dst``."""
    suffix = path.suffix.lower()
    writer = None
    try:
        if suffix == ".csv":
            enc = csv_encoding(path)
            with path.open("r", encoding=enc, newline="") as fh:
                header = next(csv.reader([fh.readline()]), [])
            names = _canonical(name, header, path)
            text = set(_text_columns(name))
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, encoding=enc, block_size=64 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in names if c in text}, strings_can_be_null=False
                ),
            )
            for batch in reader:
                table = pa.Table.from_batches([batch])
                if writer is None:
                    writer = pq.ParquetWriter(dst, table.schema, compression="zstd")
                writer.write_table(table.cast(writer.schema))
        elif suffix == ".sas7bdat":
            text = set(_text_columns(name))
            schema = None
            for block in pd.read_sas(path, format="sas7bdat", encoding="infer", chunksize=SAS_ROWS):
                block.columns = _canonical(name, [str(c) for c in block.columns], path)
                for c in block.columns:
                    if c in text:
                        block[c] = block[c].astype(object).where(block[c].notna(), "")
                table = pa.Table.from_pandas(block, preserve_index=False, schema=schema)
                if writer is None:
                    schema = table.schema.remove_metadata()
                    writer = pq.ParquetWriter(dst, schema, compression="zstd")
                writer.write_table(table.replace_schema_metadata(None))
        else:
            raise SchemaError(f"table file {path.name}: not Parquet, CSV or SAS7BDAT")
        if writer is None:  # a file with a header and no rows
            empty = pa.table({c: pa.array([], pa.string()) for c in SCHEMA[name]})
            pq.write_table(empty, dst)
    except (pa.ArrowInvalid, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"table file {path.name}: cannot be read as {suffix[1:].upper()} ({exc})") from None
    finally:
        if writer is not None:
            writer.close()
    return dst
