"""Command line: `python -m actions.tpr {summary,compute,sample,sample-boundaries,map}`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actions.tpr.calc import AGE_GROUPS, FACILITY_LEVELS, METHODS, Selection, compute_tpr
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
    compute.add_argument("file")
    compute.add_argument("--state", required=True)
    # Values are checked by the engine, so a wrong one gets the same one-line sentence as an
    # unknown state (argparse `choices` would print a usage block instead).
    compute.add_argument("--facility-level", required=True, help="|".join(FACILITY_LEVELS))
    compute.add_argument("--age-group", required=True, help="|".join(AGE_GROUPS))
    compute.add_argument("--method", default="max", help="|".join(METHODS))
    compute.add_argument("--period-from", default=None, help="e.g. 202401 or 'January 2024'")
    compute.add_argument("--period-to", default=None)
    compute.add_argument("--out", required=True, help="OUT.csv (or .xlsx)")
    sample = commands.add_parser("sample", help="write a sample NMEP-like file")
    sample.add_argument("--layout", choices=("A", "B", "C"), default="A")
    sample.add_argument("--csv", action="store_true", help="write CSV instead of XLSX")
    sample.add_argument("--states", type=int, default=2)
    sample.add_argument("--rows-per-state", type=int, default=200)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--blank-first-row", action="store_true")
    sample.add_argument("--out", required=True)
    boundaries = commands.add_parser(
        "sample-boundaries", help="write synthetic ward boundaries for a sample workbook"
    )
    boundaries.add_argument("--like", required=True, help="the workbook whose wards to draw")
    boundaries.add_argument("--out", required=True, help="OUT.geojson, OUT.zip or OUT.gpkg")
    boundaries.add_argument("--crs", default=None, help="e.g. EPSG:32632 (projected)")
    boundaries.add_argument("--points-per-edge", type=int, default=12)
    ward_map = commands.add_parser("map", help="ward TPR map (PNG) or GeoJSON of a selection")
    ward_map.add_argument("file")
    ward_map.add_argument("--boundaries", required=True, help="GeoJSON, zipped shapefile, GPKG")
    ward_map.add_argument("--state", required=True)
    ward_map.add_argument("--facility-level", default="all")
    ward_map.add_argument("--age-group", default="all")
    ward_map.add_argument("--method", default="max")
    ward_map.add_argument("--period-from", default=None)
    ward_map.add_argument("--period-to", default=None)
    ward_map.add_argument("--completeness", action="store_true", help="map reporting instead")
    ward_map.add_argument("--out", required=True, help="OUT.png or OUT.geojson")
    return parser


def _print_summary(summary: dict) -> None:
    period = summary["period"]
    print(f"{summary['source']}: layout {summary['layout']}, {summary['rows']:,} rows, "
          f"{period['first']} to {period['last']} ({period['months']} months)")  # fmt: skip
    for state, info in summary["by_state"].items():
        print(f"  {state}: {info['lgas']} LGAs, {info['wards']} wards, "
              f"{info['facilities']:,} facilities, {info['rows']:,} rows")  # fmt: skip
    quality = summary["quality"]
    print(f"Quality: {quality['totals_rows_dropped']} totals row(s) dropped, "
          f"{quality['rows_without_ward']} row(s) without a ward, "
          f"{quality['invalid_pairs']:,} invalid cell pair(s) excluded")  # fmt: skip


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
    selection = Selection(
        state=args.state,
        facility_level=args.facility_level,
        age_group=args.age_group,
        method=args.method,
        period_from=args.period_from,
        period_to=args.period_to,
    )
    result = compute_tpr(dataset, selection)
    report = match_wards(data_wards_of(dataset, result.selection.state), boundaries.wards)
    out = Path(args.out)
    if out.suffix.lower() in (".geojson", ".json"):
        out.write_bytes(result_geojson_bytes(result, boundaries, report))
    elif args.completeness:
        out.write_bytes(completeness_map_png(dataset, selection, boundaries, report))
    else:
        out.write_bytes(tpr_map_png(result, boundaries, report))
    counts = report.counts()
    print(f"{result.title}: {counts['matched']} of {counts['data_wards']} wards on the map "
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
            selection = Selection(
                state=args.state,
                facility_level=args.facility_level,
                age_group=args.age_group,
                method=args.method,
                period_from=args.period_from,
                period_to=args.period_to,
            )
            result = compute_tpr(dataset, selection)
            out = Path(args.out)
            if out.suffix.lower() == ".xlsx":
                out.write_bytes(result_to_xlsx_bytes(result))
            else:
                out.write_bytes(result_to_csv_bytes(result))
            stats = result.stats
            print(f"{result.title}: {stats['wards_with_data']} of {stats['wards_total']} wards "
                  f"with data; written to {out}")  # fmt: skip
        elif args.command == "sample-boundaries":
            _sample_boundaries(args)
        elif args.command == "map":
            _map(args)
        else:
            from actions.tpr.sample import sample_frame, write_sample_file

            out = Path(args.out)
            if args.csv and out.suffix.lower() != ".csv":
                out = out.with_suffix(".csv")
            frame = sample_frame(args.layout, args.states, args.rows_per_state, args.seed)
            write_sample_file(frame, out, args.layout, blank_first_row=args.blank_first_row)
            print(f"wrote {out} ({len(frame):,} rows, layout {args.layout})")
    except TPRDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"error: {error.strerror or error}: {getattr(error, 'filename', '')}", file=sys.stderr
        )
        return 1
    return 0
