"""The TPR engine: NMEP workbooks -> ward-level malaria test positivity rates (pure pandas)."""

from actions.tpr.analysis import (
    COMPARE_COLUMNS,
    QUALITY_COLUMNS,
    Comparison,
    compare_selections,
    completeness,
    completeness_by_month,
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
from actions.tpr.summary import summarise

__all__ = [
    "COMPARE_COLUMNS",
    "QUALITY_COLUMNS",
    "Comparison",
    "Dataset",
    "Selection",
    "TPRDataError",
    "TPRResult",
    "clean_name",
    "compare_selections",
    "completeness",
    "completeness_by_month",
    "comparison_chart_png",
    "completeness_chart_png",
    "compute_tpr",
    "find_lga",
    "find_wards",
    "group_totals",
    "invalid_pairs_list",
    "load_dataset",
    "result_chart_png",
    "result_to_csv_bytes",
    "result_to_xlsx_bytes",
    "summarise",
    "table_csv_bytes",
    "tables_xlsx_bytes",
    "ward_detail",
    "wards_without_data",
]
_EXPORTS = (
    "result_to_csv_bytes",
    "result_to_xlsx_bytes",
    "result_chart_png",
    "table_csv_bytes",
    "tables_xlsx_bytes",
)
_CHARTS = ("comparison_chart_png", "completeness_chart_png")


def __getattr__(name: str):
    """Exports load matplotlib/xlsxwriter lazily: most callers never need them."""
    if name in _EXPORTS:
        from actions.tpr import export

        return getattr(export, name)
    if name in _CHARTS:
        from actions.tpr import charts

        return getattr(charts, name)
    raise AttributeError(name)
