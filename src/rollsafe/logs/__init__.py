"""The four log sources of a rollout incident: streaming parsers (``parsers/``, one module per source, no
knowledge of the simulator) and emitters (``emitters/``, a simulated run rendered in the same formats)."""
