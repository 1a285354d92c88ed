"""The page's plumbing that is not a panel: where uploads and what they become are kept, the
line for heavy work, and the few Streamlit internals a hosted page needs (app.py is the page)."""
