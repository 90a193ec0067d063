"""A study's report for a paper: the results table (Markdown, LaTeX, HTML) and its figure (SVG), written from the
body of GET /api/studies/{id}/stats exactly as it stands, so the report and the page say the same numbers.

table: the rows and the three text formats; figure: a dot-and-whisker SVG of each cell's mean and 95 % interval,
written by hand (no plotting library in the API: Plotly's static export needs kaleido, i.e. a browser).
"""

from backend.studies.report.figure import mean_interval_svg
from backend.studies.report.table import FORMATS, MEDIA_TYPES, render

__all__ = ["FORMATS", "MEDIA_TYPES", "mean_interval_svg", "render"]
