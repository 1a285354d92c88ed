"""Headers to stacks: each frame's geometry and what tells it apart, grouped into series,
split into grids and 4-D volumes, and placed in true order along the slice normal."""
