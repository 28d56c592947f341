"""Pure analytics logic: metric formulas, time windows, audiences. No I/O."""
