"""Command line: `python -m actions.tpr {summary,compute,sample}` (see interfaces.md)."""

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
