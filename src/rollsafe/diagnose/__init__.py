"""``rollsafe diagnose``: the four log sources loaded into DuckDB (store), joined per target IP:port
(correlate), every LB-generated 5xx given a cause with its evidence (attribute), and the report's
document (report). It reads logs; it never runs the simulator."""
