"""Reports of a stored run: the Pareto table, the recommendation, CSV/Markdown/JSON/HTML."""
