"""Tasks: the engine registry, the one planner, the in-process executor and the recording of a result."""
