"""What crosses the boundary between a force and the coordinator, and how."""
