"""Headers to tables: every element, what varies across a series, and identifiers hidden."""
