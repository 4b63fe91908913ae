"""The TPR engine: NMEP workbooks -> ward-level malaria test positivity rates (pure pandas)."""

from actions.tpr.analysis import (
    COMPARE_COLUMNS,
    QUALITY_COLUMNS,
    Comparison,
    compare_selections,
    completeness,
    completeness_by_month,
    completeness_tables,
    find_lga,
    find_wards,
    group_totals,
    invalid_pairs_list,
    ward_detail,
    wards_without_data,
)
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
    "COMPARE_COLUMNS",
    "QUALITY_COLUMNS",
    "TREND_COLUMNS",
    "Comparison",
    "Dataset",
    "Selection",
    "TPRDataError",
    "TPRResult",
    "YearOnYear",
    "clean_name",
    "compare_selections",
    "comparison_chart_png",
    "completeness",
    "completeness_by_month",
    "completeness_tables",
    "completeness_chart_png",
    "compute_tpr",
    "find_lga",
    "find_wards",
    "group_totals",
    "invalid_pairs_list",
    "load_dataset",
    "peak_months",
    "result_chart_png",
    "result_to_csv_bytes",
    "result_to_xlsx_bytes",
    "summarise",
    "table_csv_bytes",
    "tables_xlsx_bytes",
    "trend",
    "trend_chart_png",
    "ward_detail",
    "wards_without_data",
    "year_on_year",
    "year_on_year_chart_png",
    "years_covered",
]
_EXPORTS = (
    "result_to_csv_bytes",
    "result_to_xlsx_bytes",
    "result_chart_png",
    "table_csv_bytes",
    "tables_xlsx_bytes",
)
_CHARTS = ("comparison_chart_png", "completeness_chart_png")
_SERIES_CHARTS = ("trend_chart_png", "year_on_year_chart_png")


def __getattr__(name: str):
    """Exports load matplotlib/xlsxwriter lazily: most callers never need them."""
    if name in _EXPORTS:
        from actions.tpr import export

        return getattr(export, name)
    if name in _SERIES_CHARTS:
        from actions.tpr import series_charts

        return getattr(series_charts, name)
    if name in _CHARTS:
        from actions.tpr import charts

        return getattr(charts, name)
    raise AttributeError(name)
