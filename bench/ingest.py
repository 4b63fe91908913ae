"""Ingest benchmark: national NMEP workbooks (one year and three years), ours against openpyxl.

For each workbook (layout B, 37 states; written by xlsxwriter with inline strings, and the same
data rewritten with a shared-strings table as Excel and DHIS2 write them) it prints, in one run:
- ours: the upload-to-summary path of the upload route's worker (sniff, zip-bomb inflate
  check, read, canonicalise, summary, Arrow bytes), its time and the peak RSS of that process;
- the bare calamine parse (fastexcel, all columns, types guessed), for reference;
- pandas.read_excel(engine="openpyxl") merely reading the data sheet, and the ratio
  openpyxl / ours (target >= 18x on the one-year file);
- Arrow bytes (target: three-year <= 3.2x one-year) and peak RSS (target <= 1.5 GB, 3 years);
- the median recompute of one state, and `trend` by month for one state at each unit
  (state, lga, ward; target <= 100 ms on the three-year dataset) when actions.tpr.series has it.

Every measurement runs in its own child process, one after another, so peak RSS is that step's
alone and no step warms another's caches. Workbooks are generated once under bench/data/
(nice'd; the three-year file takes a few minutes) and reused.

Run: `make bench`, or `PYTHONPATH=. .venv/bin/python bench/ingest.py [--quick]
[--skip-openpyxl] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data"
RATIO_TARGET = 18.0
RSS_TARGET_MB = 1500.0
ARROW_RATIO_TARGET = 3.2
TREND_TARGET_MS = 100.0


@dataclass(frozen=True)
class Workbook:
    """One benchmark workbook: how to generate it and where it is cached."""

    name: str
    rows_per_state: int
    months: int
    first_period: int
    shared_strings: bool = False

    @property
    def path(self) -> Path:
        return DATA / self.name

    @property
    def label(self) -> str:
        years = "1 year" if self.months <= 12 else f"{self.months // 12} years"
        strings = "shared strings" if self.shared_strings else "inline strings"
        return f"{years}, {strings}"


def workbooks(quick: bool) -> list[Workbook]:
    prefix, one, three = ("quick_", 400, 1200) if quick else ("", 9200, 27600)
    return [
        Workbook(f"{prefix}national_layout_b.xlsx", one, 12, 202401),
        Workbook(f"{prefix}national_layout_b_shared.xlsx", one, 12, 202401, True),
        Workbook(f"{prefix}national_3y_layout_b.xlsx", three, 36, 202301),
        Workbook(f"{prefix}national_3y_layout_b_shared.xlsx", three, 36, 202301, True),
    ]


# Two months missing for one whole state, as real multi-year exports have.
MISSING = {"Kwara": (202403, 202404)}


def ensure_workbook(book: Workbook) -> None:
    """Generate the workbook unless cached (in a nice'd child, so that the measurements keep
    their priority); the shared-strings variant is rewritten from the inline one."""
    if book.path.exists():
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--child", "generate", book.name]
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0 or not book.path.exists():
        raise SystemExit(f"generating {book.name} failed")


def generate(book: Workbook) -> None:
    from actions.tpr.sample import sample_frame, to_shared_strings, write_sample_file

    DATA.mkdir(parents=True, exist_ok=True)
    os.nice(10)
    started = time.perf_counter()
    if book.shared_strings:
        inline = book.path.with_name(book.path.name.replace("_shared", ""))
        if not inline.exists():
            raise SystemExit(f"{inline} is needed first")
        print(f"writing {book.name} (shared strings) from {inline.name} ...", flush=True)
        to_shared_strings(inline, book.path.with_suffix(".tmp"))
    else:
        print(f"generating {book.name} (37 states x {book.rows_per_state:,} rows, "
              f"{book.months} months) ...", flush=True)  # fmt: skip
        frame = sample_frame(
            "B",
            states=37,
            rows_per_state=book.rows_per_state,
            seed=2024,
            months=book.months,
            first_period=book.first_period,
            missing=MISSING if book.months > 12 else None,
        )
        write_sample_file(frame, book.path.with_suffix(".tmp"), "B")
        del frame
    book.path.with_suffix(".tmp").rename(book.path)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)


# --- child processes: one measurement each ---------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(path: Path, repeats: int) -> dict:
    """The upload route's work for one file: sniff in the web process, then its parse worker.

    Modules are imported first, as in the route's long-lived worker processes.
    """
    import actions.tpr  # noqa: F401 - a warm worker has the engine imported
    from actions.service.upload_checks import UploadLimits, parse_upload, sniff

    baseline_rss = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    data = path.read_bytes()
    sniffed = sniff(data, UploadLimits.from_env())
    outcome, payload, summary = parse_upload(sniffed.data, path.name)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if outcome != "ok":
        raise SystemExit(f"upload refused: {payload}")
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline_rss,
        "arrow_bytes": len(payload),
        "rows": summary["rows"],
        "states": len(summary["states"]),
        "wards": sum(s["wards"] for s in summary["by_state"].values()),
        "months": summary["period"]["months"],
    }
    del data, sniffed
    result.update(child_queries(payload, repeats))
    return result


def child_queries(arrow: bytes, repeats: int) -> dict:
    """Median recompute of one state and, when the engine has it, trend by month per unit."""
    from actions.tpr import Dataset, Selection, compute_tpr

    dataset = Dataset.from_bytes(arrow)
    state = "Kano" if "Kano" in dataset.states else dataset.states[0]
    selection = Selection(state=state, facility_level="all", age_group="u5", method="max")
    compute_tpr(dataset, selection)  # builds the per-row arrays once, as the action server does
    out: dict = {"state": state, "recompute_ms": _median_ms(
        lambda: compute_tpr(dataset, selection), repeats)}  # fmt: skip
    try:
        from actions.tpr.series import trend
    except ImportError:
        return out
    for unit in ("state", "lga", "ward"):
        out[f"trend_{unit}_ms"] = _median_ms(
            lambda unit=unit: trend(dataset, selection, unit=unit, by="month"), repeats
        )
    return out


def _median_ms(call, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def child_calamine(path: Path) -> dict:
    """Bare calamine: every column of the data sheet, types guessed, to Arrow."""
    import fastexcel

    started, cpu = time.perf_counter(), time.process_time()
    reader = fastexcel.read_excel(path.read_bytes())
    table = reader.load_sheet(0).to_arrow()
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "rows": table.num_rows, "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def child_openpyxl(path: Path) -> dict:
    import pandas as pd

    started, cpu = time.perf_counter(), time.process_time()
    frame = pd.read_excel(path, engine="openpyxl")
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "rows": len(frame), "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def run_child(mode: str, path: Path, repeats: int = 0) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--child", mode, str(path), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {path.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def why_harder() -> None:
    """Which features of our sample cost the readers: inline strings, and unused columns.

    The same 74,000 rows (37 states x 2,000) four ways: inline or shared strings, all 26
    columns or the 20 the engine reads. CPU seconds (best of 3 for calamine).
    """
    import zipfile

    import fastexcel
    import pandas as pd

    from actions.tpr.sample import sample_frame, write_sample_file

    frame = sample_frame("B", states=37, rows_per_state=2000, seed=3)
    unused = ["General Attendance", "Inpatient Admissions", "Persons with fever",
              "PW who received LLIN", "Children <5 yrs who received LLIN",
              next(c for c in frame.columns if c.endswith(".1"))]  # fmt: skip
    print("\nwhy our sample is harder to read (74,000 rows, CPU seconds)")
    for columns in ("26 columns", "20 columns"):
        table = frame if columns == "26 columns" else frame.drop(columns=unused)
        for shared in (False, True):
            path = write_sample_file(table, DATA / "why.xlsx", "B", shared_strings=shared)
            xml = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml").file_size
            data = path.read_bytes()
            best = float("inf")
            for _ in range(3):
                cpu = time.process_time()
                fastexcel.read_excel(data).load_sheet(0).to_arrow()
                best = min(best, time.process_time() - cpu)
            cpu = time.process_time()
            pd.read_excel(path, engine="openpyxl")
            baseline = time.process_time() - cpu
            strings = "shared" if shared else "inline"
            print(f"  {columns}, {strings:6} strings: xlsx {len(data) / 1e6:4.1f} MB, "
                  f"XML {xml / 1e6:5.1f} MB, calamine {best:5.2f} s, "
                  f"openpyxl {baseline:5.1f} s")  # fmt: skip
    (DATA / "why.xlsx").unlink(missing_ok=True)


# --- the report ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="recompute/trend repeats")
    parser.add_argument("--skip-openpyxl", action="store_true", help="skip the slow baseline")
    parser.add_argument("--quick", action="store_true", help="small workbooks (37 x 400 rows)")
    parser.add_argument("--why", action="store_true", help="only: what makes a file slow to read")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.why:
        why_harder()
        return 0
    if args.child:
        mode, file = args.child
        if mode == "generate":
            every = workbooks(False) + workbooks(True)
            generate(next(b for b in every if b.name == file))
            return 0
        measure = {"ours": lambda p: child_ours(p, args.repeats), "calamine": child_calamine,
                   "openpyxl": child_openpyxl}[mode]  # fmt: skip
        print(json.dumps(measure(Path(file))))
        return 0

    books = workbooks(args.quick)
    for book in books:
        ensure_workbook(book)
    results: dict[str, dict] = {}
    for book in books:
        size_mb = book.path.stat().st_size / 1e6
        ours = run_child("ours", book.path, args.repeats)
        bare = run_child("calamine", book.path)
        line = {"book": book, "size_mb": size_mb, "ours": ours, "calamine": bare}
        print(f"\n{book.path.relative_to(ROOT)} ({book.label}): {size_mb:.1f} MB, "
              f"{ours['rows']:,} rows, {ours['months']} months, {ours['states']} states, "
              f"{ours['wards']:,} wards")  # fmt: skip
        print(f"  ours, upload -> summary:       {ours['seconds']:7.2f} s   "
              f"(CPU {ours['cpu']:6.2f} s)  peak RSS {ours['peak_rss_mb']:6.0f} MB "
              f"(imports alone {ours['baseline_rss_mb']:.0f} MB)")  # fmt: skip
        print(f"  bare calamine parse:           {bare['seconds']:7.2f} s   "
              f"(CPU {bare['cpu']:6.2f} s)  peak RSS {bare['peak_rss_mb']:6.0f} MB")  # fmt: skip
        print(f"  dataset as Arrow bytes:        {ours['arrow_bytes'] / 1e6:7.1f} MB")
        print(f"  recompute one state ({ours['state']}):  {ours['recompute_ms']:7.1f} ms median")
        for unit in ("state", "lga", "ward"):
            if f"trend_{unit}_ms" in ours:
                print(f"  trend by month, {unit:5}:         {ours[f'trend_{unit}_ms']:7.1f} ms "
                      f"median (target <= {TREND_TARGET_MS:.0f} ms)")  # fmt: skip
        if "trend_state_ms" not in ours:
            print("  trend: actions.tpr.series.trend not in this tree, not measured")
        if not args.skip_openpyxl:
            baseline = run_child("openpyxl", book.path)
            line["openpyxl"] = baseline
            ratio = baseline["seconds"] / ours["seconds"]
            print(f"  pandas.read_excel(openpyxl):   {baseline['seconds']:7.2f} s   "
                  f"(CPU {baseline['cpu']:6.2f} s)  peak RSS {baseline['peak_rss_mb']:6.0f} MB "
                  "(read only)")  # fmt: skip
            target = f" (target >= {RATIO_TARGET:.0f}x)" if book.months == 12 else ""
            print(f"  ratio openpyxl / ours:         {ratio:7.1f}x{target}; in CPU time "
                  f"{baseline['cpu'] / ours['cpu']:.1f}x")  # fmt: skip
        results[book.name] = line

    one, one_shared, three, three_shared = (results[b.name] for b in books)
    print("\nsummary")
    arrow_ratio = three["ours"]["arrow_bytes"] / one["ours"]["arrow_bytes"]
    print(f"  Arrow bytes, 3 years / 1 year: {arrow_ratio:5.2f}x "
          f"(target <= {ARROW_RATIO_TARGET}x)")  # fmt: skip
    worst_rss = max(three["ours"]["peak_rss_mb"], three_shared["ours"]["peak_rss_mb"])
    print(
        f"  peak RSS, 3 years:             {worst_rss:5.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)"
    )
    for label, inline, shared in (("1 year", one, one_shared), ("3 years", three, three_shared)):
        parts = [f"ours {inline['ours']['seconds']:.2f} s vs {shared['ours']['seconds']:.2f} s",
                 f"calamine {inline['calamine']['seconds']:.2f} s vs "
                 f"{shared['calamine']['seconds']:.2f} s"]  # fmt: skip
        if "openpyxl" in inline:
            parts.append(f"openpyxl {inline['openpyxl']['seconds']:.1f} s vs "
                         f"{shared['openpyxl']['seconds']:.1f} s")  # fmt: skip
        print(f"  {label}, inline vs shared strings: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
