"""Serving many visitors from one process: a bounded store for their data and a fair line
for heavy work. Plain Python; the page (app.py) uses them."""
