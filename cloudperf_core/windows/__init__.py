"""Reports -> per (source, target, window) aggregates, their exact merge, and grouping."""
