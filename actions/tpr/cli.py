"""Command line: `python -m actions.tpr {summary,compute,trend,compare,quality,sample,
sample-boundaries,map}`.

The commands and their columns are those of interfaces.md, "Engine command line"."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from actions.tpr.analysis import compare_selections, invalid_pairs_list
from actions.tpr.calc import (
    AGE_GROUPS,
    FACILITY_LEVELS,
    METHODS,
    Selection,
    compute_tpr,
    resolve_state,
)
from actions.tpr.dataset import load_dataset
from actions.tpr.errors import TPRDataError
from actions.tpr.summary import summarise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actions.tpr", description="Ward-level malaria TPR from NMEP workbooks."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="what the file holds")
    summary.add_argument("file")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    compute = commands.add_parser("compute", help="ward TPR for one selection")
    _selection_flags(compute)
    trend = commands.add_parser("trend", help="TPR by month or year for the state, LGAs or wards")
    _selection_flags(trend)
    trend.add_argument("--by", default="month", help="month|year")
    trend.add_argument("--unit", default="state", help="state|lga|ward")
    compare = commands.add_parser("compare", help="ward TPR of two selections side by side")
    _selection_flags(compare)
    compare.add_argument("--vs", action="append", default=[], metavar="KEY=VALUE",
                         help=f"selection B: A with KEY changed ({', '.join(VS_KEYS)}); "
                         "repeatable")  # fmt: skip
    quality = commands.add_parser("quality", help="the invalid cell pairs of a selection")
    _selection_flags(quality, level_and_age_required=False)
    sample = commands.add_parser("sample", help="write a sample NMEP-like file")
    sample.add_argument("--layout", choices=("A", "B", "C"), default="A")
    sample.add_argument("--csv", action="store_true", help="write CSV instead of XLSX")
    sample.add_argument("--states", type=int, default=2)
    sample.add_argument("--rows-per-state", type=int, default=200)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--blank-first-row", action="store_true")
    sample.add_argument("--months", type=int, default=12, help="consecutive months (default 12)")
    sample.add_argument(
        "--first-period", type=int, default=202401, help="first month as YYYYMM (default 202401)"
    )
    sample.add_argument(
        "--missing",
        action="append",
        default=[],
        metavar="STATE:YYYYMM[,YYYYMM]",
        help="months absent for a whole state, e.g. Kwara:202403,202404 (repeatable)",
    )
    sample.add_argument(
        "--no-trend", action="store_true", help="no seasonal peak or ward trends (multi-year)"
    )
    sample.add_argument(
        "--no-moving-facility", action="store_true", help="no facility changing ward (multi-year)"
    )
    sample.add_argument(
        "--shared-strings", action="store_true", help="text in a shared-strings table, as Excel"
    )
    sample.add_argument("--out", required=True)
    boundaries = commands.add_parser(
        "sample-boundaries", help="write synthetic ward boundaries for a sample workbook"
    )
    boundaries.add_argument("--like", required=True, help="the workbook whose wards to draw")
    boundaries.add_argument("--out", required=True, help="OUT.geojson, OUT.zip or OUT.gpkg")
    boundaries.add_argument("--crs", default=None, help="e.g. EPSG:32632 (projected)")
    boundaries.add_argument("--points-per-edge", type=int, default=12)
    ward_map = commands.add_parser("map", help="ward TPR map (PNG) or GeoJSON of a selection")
    _selection_flags(ward_map, level_and_age_required=False)  # --out: OUT.png or OUT.geojson
    ward_map.add_argument("--boundaries", required=True, help="GeoJSON, zipped shapefile, GPKG")
    ward_map.add_argument("--completeness", action="store_true", help="map reporting instead")
    return parser


VS_KEYS = ("facility-level", "age-group", "method", "period-from", "period-to")


def _selection_flags(command: argparse.ArgumentParser, level_and_age_required: bool = True):
    """FILE, --state, the selection flags of `compute` and --out."""
    command.add_argument("file")
    command.add_argument("--state", required=True)
    # Values are checked by the engine, so a wrong one gets the same one-line sentence as an
    # unknown state (argparse `choices` would print a usage block instead).
    default = None if level_and_age_required else "all"
    command.add_argument("--facility-level", required=level_and_age_required, default=default,
                         help="|".join(FACILITY_LEVELS))  # fmt: skip
    command.add_argument("--age-group", required=level_and_age_required, default=default,
                         help="|".join(AGE_GROUPS))  # fmt: skip
    command.add_argument("--method", default="max", help="|".join(METHODS))
    command.add_argument("--period-from", default=None, help="e.g. 202401 or 'January 2024'")
    command.add_argument("--period-to", default=None)
    command.add_argument("--out", required=True, help="OUT.csv (or .xlsx)")


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(
        state=args.state,
        facility_level=args.facility_level,
        age_group=args.age_group,
        method=args.method,
        period_from=args.period_from,
        period_to=args.period_to,
    )


def _selection_b(a: Selection, changes: list[str]) -> Selection:
    """A with each `--vs KEY=VALUE` applied; a wrong KEY or form is a one-line TPRDataError."""
    if not changes:
        raise TPRDataError(
            f"compare needs at least one --vs KEY=VALUE for selection B ({', '.join(VS_KEYS)})."
        )
    fields: dict[str, str] = {}
    for change in changes:
        key, sep, value = change.partition("=")
        key = key.strip().casefold().replace("_", "-")
        if not sep or key not in VS_KEYS or not value.strip():
            raise TPRDataError(
                f"'--vs {change}' is not KEY=VALUE with KEY one of {', '.join(VS_KEYS)}."
            )
        fields[key.replace("-", "_")] = value.strip()
    return replace(a, **fields)


def _write_table(out: Path, frame, sheet: str) -> None:
    from actions.tpr.export import table_csv_bytes, tables_xlsx_bytes

    if out.suffix.lower() == ".xlsx":
        out.write_bytes(tables_xlsx_bytes({sheet: frame}))
    else:
        out.write_bytes(table_csv_bytes(frame))


def _print_summary(summary: dict) -> None:
    period = summary["period"]
    print(f"{summary['source']}: layout {summary['layout']}, {summary['rows']:,} rows, "
          f"{period['first']} to {period['last']} ({period['months']} months)")  # fmt: skip
    years = summary.get("time_coverage", {}).get("years", [])
    if len(years) > 1:
        print(f"Years: {', '.join(str(y) for y in years)}")
    for state, info in summary["by_state"].items():
        print(f"  {state}: {info['lgas']} LGAs, {info['wards']} wards, "
              f"{info['facilities']:,} facilities, {info['rows']:,} rows")  # fmt: skip
        missing = info.get("time_coverage", {}).get("missing_months", [])
        if missing:
            print(f"    no rows in {len(missing)} month(s): {', '.join(missing)}")
    quality = summary["quality"]
    print(f"Quality: {quality['totals_rows_dropped']} totals row(s) dropped, "
          f"{quality['rows_without_ward']} row(s) without a ward, "
          f"{quality['invalid_pairs']:,} invalid cell pair(s) excluded")  # fmt: skip


def _missing_months(values: list[str]) -> dict[str, tuple[int, ...]]:
    """`["Kwara:202403,202404"]` -> {"Kwara": (202403, 202404)}; a bad value is a TPRDataError."""
    missing: dict[str, tuple[int, ...]] = {}
    for value in values:
        state, _, codes = value.partition(":")
        try:
            months = tuple(int(code) for code in codes.split(",") if code.strip())
        except ValueError:
            months = ()
        if not state.strip() or not months:
            raise TPRDataError(f"--missing {value!r}: write it as STATE:YYYYMM[,YYYYMM...].")
        missing[state.strip()] = missing.get(state.strip(), ()) + months
    return missing


def _sample_boundaries(args: argparse.Namespace) -> None:
    from actions.tpr.sample_boundaries import sample_boundaries, write_boundaries

    gdf, traps = sample_boundaries(
        load_dataset(args.like), points_per_edge=args.points_per_edge, crs=args.crs
    )
    out = write_boundaries(gdf, Path(args.out))
    print(f"wrote {out} ({len(gdf):,} ward polygons{', ' + args.crs if args.crs else ''})")
    if traps.missing:
        print(f"  data ward without polygon: {' / '.join(traps.missing)}")
    if traps.misspelt:
        print(f"  misspelt ward: {' / '.join(traps.misspelt[0])} -> {traps.misspelt[1]}")
    if traps.extra:
        print(f"  polygon without data: {' / '.join(traps.extra)}")
    if traps.shared_ward_lgas:
        print(f"  shared ward name in LGAs: {', '.join(lga for _, lga in traps.shared_ward_lgas)}")
    print("  LGA names in capitals")


def _map(args: argparse.Namespace) -> None:
    from actions.tpr.boundaries import read_boundaries
    from actions.tpr.maps import completeness_map_png, result_geojson_bytes, tpr_map_png
    from actions.tpr.ward_match import data_wards_of, match_wards

    dataset = load_dataset(args.file)
    boundaries = read_boundaries(Path(args.boundaries).read_bytes(), args.boundaries)
    selection = _selection(args)
    result = compute_tpr(dataset, selection)
    report = match_wards(data_wards_of(dataset, result.selection.state), boundaries.wards)
    out = Path(args.out)
    if out.suffix.lower() in (".geojson", ".json"):
        out.write_bytes(result_geojson_bytes(result, boundaries, report))
    elif args.completeness:
        out.write_bytes(completeness_map_png(dataset, selection, boundaries, report))
    else:
        out.write_bytes(tpr_map_png(result, boundaries, report))
    what = "Reporting completeness" if args.completeness else result.title
    counts = report.counts()
    print(f"{what}: {counts['matched']} of {counts['data_wards']} wards on the map "
          f"({counts['loose']} matched loosely); written to {out}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "summary":
            summary = summarise(load_dataset(args.file))
            if args.json:
                print(json.dumps(summary, indent=2, ensure_ascii=False))
            else:
                _print_summary(summary)
        elif args.command == "compute":
            from actions.tpr.export import result_to_csv_bytes, result_to_xlsx_bytes

            dataset = load_dataset(args.file)
            result = compute_tpr(dataset, _selection(args))
            out = Path(args.out)
            if out.suffix.lower() == ".xlsx":
                out.write_bytes(result_to_xlsx_bytes(result))
            else:
                out.write_bytes(result_to_csv_bytes(result))
            stats = result.stats
            print(f"{result.title}: {stats['wards_with_data']} of {stats['wards_total']} wards "
                  f"with data; written to {out}")  # fmt: skip
        elif args.command == "trend":
            from actions.tpr.series import trend

            series = trend(load_dataset(args.file), _selection(args), by=args.by, unit=args.unit)
            out = Path(args.out)
            _write_table(out, series, f"by {series.attrs['by']}")
            blank = int(series["tpr"].isna().sum())
            print(f"{series.attrs['title']}: {len(series):,} rows ({series.attrs['unit']} by "
                  f"{series.attrs['by']}), {blank:,} blank; written to {out}")  # fmt: skip
        elif args.command == "compare":
            a = _selection(args)
            b = _selection_b(a, args.vs)
            comparison = compare_selections(load_dataset(args.file), a, b)
            out = Path(args.out)
            _write_table(out, comparison.wards, "comparison")
            counts = comparison.counts()
            print(f"{comparison.title}: {counts['compared']} of {counts['wards']} wards with "
                  f"data on both sides, {counts['b_higher']} higher in B, {counts['b_lower']} "
                  f"lower; written to {out}")  # fmt: skip
        elif args.command == "quality":
            dataset = load_dataset(args.file)
            selection = _selection(args)
            pairs = invalid_pairs_list(dataset, selection)
            out = Path(args.out)
            _write_table(out, pairs, "invalid pairs")
            facilities = pairs[["lga", "ward", "facility"]].drop_duplicates()
            print(f"{resolve_state(dataset, selection.state)}: "
                  f"{len(pairs):,} invalid cell pair(s) in {len(facilities):,} facility(ies); "
                  f"written to {out}")  # fmt: skip
        elif args.command == "sample-boundaries":
            _sample_boundaries(args)
        elif args.command == "map":
            _map(args)
        else:
            from actions.tpr.sample import sample_frame, write_sample_file

            out = Path(args.out)
            if args.csv and out.suffix.lower() != ".csv":
                out = out.with_suffix(".csv")
            frame = sample_frame(
                args.layout,
                args.states,
                args.rows_per_state,
                args.seed,
                months=args.months,
                first_period=args.first_period,
                trend=False if args.no_trend else None,
                moving_facility=False if args.no_moving_facility else None,
                missing=_missing_months(args.missing),
            )
            write_sample_file(
                frame,
                out,
                args.layout,
                blank_first_row=args.blank_first_row,
                shared_strings=args.shared_strings,
            )
            periods = frame["periodcode"].dropna()
            print(f"wrote {out} ({len(frame):,} rows, layout {args.layout}, "
                  f"{int(periods.min())} to {int(periods.max())})")  # fmt: skip
    except TPRDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a sample option out of range (months, first period)
        if args.command != "sample":
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"error: {error.strerror or error}: {getattr(error, 'filename', '')}", file=sys.stderr
        )
        return 1
    return 0
