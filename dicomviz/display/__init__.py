"""Volumes to pictures: views along the patient's planes, projections, windows, the opening
picture, Plotly figures and PNGs."""
