"""Benchmarks of the scheduler's hot paths (issue 7).

Run ``make bench`` (or ``python -m benchmarks``; ``--quick`` for a run
under a minute).  Sections, each in its own module:

* `benchmarks.baseline`: raw psycopg2 UPDATE + INSERT transactions, the
  machine's write ceiling;
* `benchmarks.claims`: getJobForMachine -> finishJob through the library
  in 1, 4 and 16 processes, with the exactly-once check;
* `benchmarks.xmlrpc`: the same cycle through ``codeimport serve`` with
  16 clients, per-call latencies and the service's memory;
* `benchmarks.depth`: getJobForMachine latency at growing queue depths;
* `benchmarks.running`: getReclaimableJobs, the watchdog and heartbeats
  with 10,000 running jobs.

`benchmarks.db` makes the dedicated database and loads rows in bulk;
`benchmarks.report` renders the table and the JSON.
"""
