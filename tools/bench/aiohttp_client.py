#!/usr/bin/env python3
"""Baseline of `make bench`: the asyncio + aiohttp script a user writes.

One aiohttp ClientSession (keep-alive, a connection pool of --workers), a
semaphore of --workers calls in flight, no rate limit, no retries, no
dedupe, rows written in completion order.

    ACEDATA_TOKEN=... python3 aiohttp_client.py --input cards.csv \
        --output out.csv --endpoint http://127.0.0.1:8080 --workers 64

aiohttp comes from Debian: apt-get install python3-aiohttp (for /usr/bin/python3).
"""
import argparse
import asyncio
import csv
import os
import sys

import aiohttp


async def lookup(session, sem, url, headers, row, col, writer, stats):
    async with sem:
        try:
            async with session.post(url, json={"bank_card": row[col]}, headers=headers) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200:
                    raise ValueError(resp.status)
                extra = [str(data.get("result", "")), data.get("account_bank", ""),
                         str(data.get("account_type", ""))]
        except Exception:  # the naive script: count and move on
            stats["failed"] += 1
            extra = ["", "", ""]
    writer.writerow(row + extra)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--endpoint", default="http://127.0.0.1:8080")
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--column", default="card_no")
    a = ap.parse_args()

    url = a.endpoint.rstrip("/") + "/identity/bankcard/check-1e"
    headers = {"authorization": "Bearer " + os.environ.get("ACEDATA_TOKEN", ""),
               "accept": "application/json"}
    stats = {"failed": 0}
    sem = asyncio.Semaphore(a.workers)
    connector = aiohttp.TCPConnector(limit=a.workers)
    timeout = aiohttp.ClientTimeout(total=30)
    with open(a.input, newline="") as fin, open(a.output, "w", newline="") as fout:
        reader = csv.reader(fin)
        header = next(reader)
        col = header.index(a.column)
        writer = csv.writer(fout)
        writer.writerow(header + ["result", "bank", "type"])
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            pending = set()
            for row in reader:
                # Bound the number of tasks, not only calls in flight, so
                # memory stays flat on a large file.
                if len(pending) >= 4 * a.workers:
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                pending.add(asyncio.ensure_future(
                    lookup(session, sem, url, headers, row, col, writer, stats)))
            if pending:
                await asyncio.wait(pending)
    if stats["failed"]:
        print(f"aiohttp_client: {stats['failed']} rows without an answer", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
