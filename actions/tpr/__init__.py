"""The TPR engine: NMEP workbooks -> ward-level malaria test positivity rates (pure pandas)."""

from actions.tpr.calc import Selection, TPRResult, compute_tpr
from actions.tpr.dataset import Dataset, load_dataset
from actions.tpr.errors import TPRDataError
from actions.tpr.names import clean_name
from actions.tpr.series import (
    TREND_COLUMNS,
    YearOnYear,
    peak_months,
    trend,
    year_on_year,
    years_covered,
)
from actions.tpr.summary import summarise

__all__ = [
    "TREND_COLUMNS",
    "Dataset",
    "Selection",
    "TPRDataError",
    "TPRResult",
    "YearOnYear",
    "clean_name",
    "compute_tpr",
    "load_dataset",
    "result_chart_png",
    "result_to_csv_bytes",
    "result_to_xlsx_bytes",
    "peak_months",
    "summarise",
    "trend",
    "trend_chart_png",
    "year_on_year",
    "year_on_year_chart_png",
    "years_covered",
]


def __getattr__(name: str):
    """Exports load matplotlib/xlsxwriter lazily: most callers never need them."""
    if name in ("result_to_csv_bytes", "result_to_xlsx_bytes", "result_chart_png"):
        from actions.tpr import export

        return getattr(export, name)
    if name in ("trend_chart_png", "year_on_year_chart_png"):
        from actions.tpr import series_charts

        return getattr(series_charts, name)
    raise AttributeError(name)
