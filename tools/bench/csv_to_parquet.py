#!/usr/bin/env python3
"""Writes a long CSV (`timestamp,device,channel,value`, as tools/gen --format csv-long
writes it) to Parquet for the DuckDB side of the query benchmarks: timestamp as
microseconds UTC, zstd, column statistics, row groups of ROW_GROUP rows (1,000,000).
Streams the CSV, so memory stays near one row group.

    python3 tools/bench/csv_to_parquet.py IN.csv OUT.parquet [--row-group N]
"""
import argparse

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

TYPES = {"timestamp": pa.timestamp("us", tz="UTC"), "device": pa.string(),
         "channel": pa.string(), "value": pa.float64()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("parquet")
    p.add_argument("--row-group", type=int, default=1_000_000)
    a = p.parse_args()
    reader = pv.open_csv(a.csv, read_options=pv.ReadOptions(block_size=16 << 20),
                         convert_options=pv.ConvertOptions(column_types=TYPES))
    schema = pa.schema([(k, v) for k, v in TYPES.items()])
    with pq.ParquetWriter(a.parquet, schema, compression="zstd", write_statistics=True) as w:
        pend, n = [], 0
        for b in reader:
            pend.append(b)
            n += len(b)
            if n >= a.row_group:
                t = pa.Table.from_batches(pend).cast(schema)
                k = (len(t) // a.row_group) * a.row_group
                w.write_table(t.slice(0, k), row_group_size=a.row_group)
                rest = t.slice(k)
                pend, n = rest.to_batches(), len(rest)
        if n:
            w.write_table(pa.Table.from_batches(pend, schema=schema), row_group_size=a.row_group)


if __name__ == "__main__":
    main()
