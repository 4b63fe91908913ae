"""Boundary files, ward matching, maps and the GeoJSON export, on hand-made fixtures.

Every expected figure is worked by hand here (TPR = 100 * positive / tested of one RDT cell);
the polygons are squares placed by hand in Adamawa, so a ward's pixel can be found from the
axes transform of the map.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from actions.tpr import Selection, compute_tpr, load_dataset
from actions.tpr.boundaries import Boundaries, BoundaryFileError, read_boundaries
from actions.tpr.maps import (
    MAP_SIZE_PX,
    NO_DATA_COLOUR,
    TPR_COLOURS,
    TPR_STYLE,
    class_of,
    draw_ward_map,
    figure_png,
    result_geojson_bytes,
    ward_completeness,
)
from actions.tpr.sample_boundaries import shapefile_zip_bytes
from actions.tpr.ward_match import data_wards_of, loose_key, match_wards
from tests.engine.nmep import row, table, write_csv

# (lga, ward, tested, positive) of one RDT u5 cell in January; None = blank cells.
WARDS = [
    ("Fufore", "Yelwa", 100, 5),  # 5 %
    ("Yola North", "Yelwa", 100, 25),  # 25 %
    ("Song", "Yelwa", 100, 60),  # 60 %
    ("Fufore", "Bille", None, None),  # no data
    ("Fufore", "Ribadu", 200, 90),  # 45 %; file spells it Ribbadu (loose)
    ("Song", "Ngurore", 50, 10),  # 20 % (class 20-30); file spells it Ngurure (fuzzy)
    ("Fufore", "Gereng", 40, 4),  # 10 %: no polygon in the file
    ("Girei", "Jabi Lamba", 10, 1),  # 10 %: close to Jabbi Lamba of Yola North only
    ("Mayo-Belwa", "Gorobi", 80, 40),  # 50 %: LGA spelt MAYO BELWA in the file
    ("Toungo", "Gumti", 30, 3),  # 10 %: LGA absent from the file
]
HAND_TPR = {
    ("Fufore", "Yelwa"): 5.0,
    ("Yola North", "Yelwa"): 25.0,
    ("Song", "Yelwa"): 60.0,
    ("Fufore", "Bille"): None,
    ("Fufore", "Ribadu"): 45.0,
    ("Song", "Ngurore"): 20.0,
    ("Mayo-Belwa", "Gorobi"): 50.0,
}
# The file's polygons: (LGA as spelt in the file, ward as spelt, column, row of the grid).
FILE_WARDS = [
    ("FUFORE", "Yelwa", 0, 0),
    ("YOLA NORTH", "Yelwa", 1, 0),
    ("SONG", "Yelwa", 2, 0),
    ("FUFORE", "Bille", 0, 1),
    ("FUFORE", "Ribbadu", 1, 1),
    ("SONG", "Ngurure", 2, 1),
    ("YOLA NORTH", "Jabbi Lamba", 0, 2),
    ("GIREI", "Dakri", 1, 2),
    ("MAYO BELWA", "Gorobi", 2, 2),
    ("FUFORE", "Extra Ward", 0, 3),
]
CELL = 0.2
ORIGIN = (12.0, 8.8)


def _square(col: int, row_: int) -> Polygon:
    x, y = ORIGIN[0] + col * CELL, ORIGIN[1] + row_ * CELL
    return box(x, y, x + CELL * 0.95, y + CELL * 0.95)


def boundary_frame(crs: int = 4326, **fields: str) -> gpd.GeoDataFrame:
    names = {"state": "statename", "lga": "lganame", "ward": "wardname", **fields}
    frame = gpd.GeoDataFrame(
        {
            names["state"]: ["Adamawa"] * len(FILE_WARDS),
            names["lga"]: [lga for lga, *_ in FILE_WARDS],
            names["ward"]: [ward for _, ward, *_ in FILE_WARDS],
        },
        geometry=[_square(c, r) for *_, c, r in FILE_WARDS],
        crs=4326,
    )
    return frame.to_crs(crs) if crs != 4326 else frame


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json().encode()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    rows = []
    for index, (lga, ward, tested, positive) in enumerate(WARDS):
        values = {} if tested is None else {"rdt_t_u5": tested, "rdt_p_u5": positive}
        rows.append(row("Adamawa", lga, ward, f"Facility {index}", "primary", 1, **values))
    path = tmp_path_factory.mktemp("maps") / "wards.csv"
    return load_dataset(write_csv(table(rows, "A"), path))


@pytest.fixture(scope="module")
def boundaries() -> Boundaries:
    return read_boundaries(geojson_bytes(boundary_frame()), "wards.geojson")


@pytest.fixture(scope="module")
def report(dataset, boundaries):
    return match_wards(data_wards_of(dataset), boundaries.wards)


# --- matching ---------------------------------------------------------------------------


def test_yelwa_in_three_lgas_matches_each_lga_own_polygon(report, boundaries) -> None:
    for lga, file_lga in (("Fufore", "FUFORE"), ("Yola North", "YOLA NORTH"), ("Song", "SONG")):
        row_ = report.pairs[("Adamawa", lga, "Yelwa")]
        assert tuple(boundaries.wards.loc[row_, ["lga", "ward"]]) == (file_lga, "Yelwa")
    assert len({report.pairs[("Adamawa", lga, "Yelwa")] for lga in
                ("Fufore", "Yola North", "Song")}) == 3  # fmt: skip


def test_loose_and_fuzzy_matches_are_reported_with_both_spellings(report) -> None:
    loose = {data: file for data, file, _ in report.loose}
    assert loose[("Adamawa", "Fufore", "Ribadu")] == ("Adamawa", "FUFORE", "Ribbadu")
    assert loose[("Adamawa", "Song", "Ngurore")] == ("Adamawa", "SONG", "Ngurure")
    assert set(loose) == {("Adamawa", "Fufore", "Ribadu"), ("Adamawa", "Song", "Ngurore")}
    assert [(d[1], f[1]) for d, f, _ in report.loose_lgas] == [("Mayo-Belwa", "MAYO BELWA")]


def test_misspelling_close_to_a_ward_of_another_lga_is_not_matched(report) -> None:
    # `Jabi Lamba` (Girei) is one letter from `Jabbi Lamba` of Yola North: never matched.
    assert ("Adamawa", "Girei", "Jabi Lamba") not in report.pairs
    assert ("Adamawa", "Girei", "Jabi Lamba") in report.data_without_polygon
    assert ("Adamawa", "YOLA NORTH", "Jabbi Lamba") in report.polygons_without_data


def test_unmatched_wards_polygons_and_lgas_are_named(report) -> None:
    assert sorted(report.data_without_polygon) == [
        ("Adamawa", "Fufore", "Gereng"),
        ("Adamawa", "Girei", "Jabi Lamba"),
        ("Adamawa", "Toungo", "Gumti"),
    ]
    assert sorted(report.polygons_without_data) == [
        ("Adamawa", "FUFORE", "Extra"),  # " Ward" cleaned off, as in workbooks
        ("Adamawa", "GIREI", "Dakri"),
        ("Adamawa", "YOLA NORTH", "Jabbi Lamba"),
    ]
    assert report.lgas_unmatched == [("Adamawa", "Toungo")]
    assert report.counts() == {
        "data_wards": 10, "matched": 7, "exact": 5, "loose": 2,
        "data_without_polygon": 3, "polygons_without_data": 3, "lgas_unmatched": 1,
    }  # fmt: skip
    frame = report.to_frame()
    assert len(frame) == 13
    assert set(frame["match"]) == {"exact", "loose", "data ward without polygon",
                                   "polygon without data"}  # fmt: skip


def test_ambiguous_fuzzy_candidates_stay_unmatched() -> None:
    import pandas as pd

    data = pd.DataFrame({"state": ["Kano"], "lga": ["Ungogo"], "ward": ["Kadawa"]})
    # Two file wards equally close to the data ward: guessing would be silent, so no match.
    polygons = pd.DataFrame(
        {"state": ["Kano", "Kano"], "lga": ["Ungogo", "Ungogo"], "ward": ["Kadawe", "Kadawi"]}
    )
    report = match_wards(data, polygons)
    assert report.pairs == {}
    assert report.data_without_polygon == [("Kano", "Ungogo", "Kadawa")]


def test_ward_name_alone_is_never_a_key() -> None:
    import pandas as pd

    data = pd.DataFrame({"state": ["Kano"], "lga": ["Ungogo"], "ward": ["Yelwa"]})
    polygons = pd.DataFrame({"state": ["Kano"], "lga": ["Dala"], "ward": ["Yelwa"]})
    report = match_wards(data, polygons)
    assert report.pairs == {}
    assert report.lgas_unmatched == [("Kano", "Ungogo")]


def test_loose_key_rules() -> None:
    assert loose_key("Bille II") == loose_key("bille 2")
    assert loose_key("Mayo-Belwa") == loose_key("MAYO BELWA")
    assert loose_key("Wuro Bokki") == loose_key("Wuro Boki")
    assert loose_key("Ngurore") != loose_key("Ngurure")


# --- reading ----------------------------------------------------------------------------


def test_projected_shapefile_zip_is_reprojected_to_wgs84() -> None:
    data = shapefile_zip_bytes(boundary_frame(crs=32632))
    read = read_boundaries(data, "wards.shp.zip")
    assert read.meta["format"] == "shapefile"
    assert "32632" in read.meta["declared_crs"]
    exact = read.export_geometry()
    for index, (*_, col, row_) in enumerate(FILE_WARDS):
        # Reprojection there and back agrees within 1e-6 degrees (0.1 m); rounding to 6 dp.
        same = exact.iloc[index].normalize().equals_exact(_square(col, row_).normalize(), 2e-6)
        assert same, (exact.iloc[index].wkt, _square(col, row_).wkt)
    assert list(read.wards["lga"]) == [lga for lga, *_ in FILE_WARDS]


def test_geopackage_and_other_field_spellings(tmp_path: Path) -> None:
    frame = boundary_frame(state="STATE", lga="LGA_NAME", ward="Ward_Name")
    path = tmp_path / "wards.gpkg"
    frame.to_file(path, driver="GPKG", layer="wards")
    read = read_boundaries(path.read_bytes(), "wards.gpkg")
    assert read.meta["fields"] == {"state": "STATE", "lga": "LGA_NAME", "ward": "Ward_Name"}
    assert len(read.wards) == len(FILE_WARDS)


def test_invalid_geometry_is_repaired() -> None:
    bowtie = Polygon([(12.0, 9.0), (12.2, 9.2), (12.2, 9.0), (12.0, 9.2), (12.0, 9.0)])
    assert not bowtie.is_valid
    frame = gpd.GeoDataFrame(
        {"statename": ["Adamawa"], "lganame": ["Fufore"], "wardname": ["Bille"]},
        geometry=[bowtie],
        crs=4326,
    )
    read = read_boundaries(geojson_bytes(frame))
    assert read.meta["repaired"] == 1
    exact = read.export_geometry().iloc[0]
    assert exact.is_valid and exact.area == pytest.approx(0.02, rel=1e-3)  # two triangles


def test_stored_form_round_trips_and_is_compact(boundaries: Boundaries) -> None:
    again = Boundaries.from_bytes(boundaries.to_bytes())
    assert list(again.wards["ward"]) == list(boundaries.wards["ward"])
    assert list(again.export_geometry()) == list(boundaries.export_geometry())
    drawing_only = Boundaries.from_bytes(boundaries.to_bytes(), with_export=False)
    assert "export_wkt" not in drawing_only.wards


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _without_prj(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist() if not n.endswith(".prj")}
    return _zip(parts)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: _zip({"w/wards.shp": b"x" * 200, "w/wards.shx": b"x" * 50}),
         "the .dbf part is missing"),
        (lambda: _zip({"w/wards.dbf": b"x" * 200, "w/wards.prj": b"x"}),
         "the .shp part is missing"),
        (lambda: json.dumps({"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[12, 9], [12.1, 9], [12.1, 9.1], [12, 9]]]}
         }).encode(), "not a FeatureCollection"),
        (lambda: gpd.GeoDataFrame({"statename": ["Adamawa"], "lganame": ["Fufore"],
                                   "wardname": ["Bille"]}, geometry=[shapely.Point(12, 9)],
                                  crs=4326).to_json().encode(), "points, not ward polygons"),
        (lambda: gpd.GeoDataFrame({"name": ["x"], "code": ["1"]}, geometry=[_square(0, 0)],
                                  crs=4326).to_json().encode(), "no LGA or ward name field"),
        (lambda: gpd.GeoDataFrame({"statename": ["Lagos"], "lganame": ["Ikeja"],
                                   "wardname": ["A"]}, geometry=[box(30, 9, 30.1, 9.1)],
                                  crs=4326).to_json().encode(), "outside Nigeria"),
        (lambda: _without_prj(shapefile_zip_bytes(boundary_frame(crs=32632))),
         "does not say which coordinate system"),
        (lambda: geojson_bytes(boundary_frame(crs=32632).set_crs(None, allow_override=True)),
         "outside Nigeria once reprojected"),
    ],
    ids=["zip-without-dbf", "zip-without-shp", "single-feature", "points", "no-name-fields",
         "outside-nigeria", "shapefile-without-prj", "projected-geojson-without-crs"],
)  # fmt: skip
def test_bad_boundary_files_get_a_sentence(make, words: str) -> None:
    with pytest.raises(BoundaryFileError) as error:
        read_boundaries(make())
    assert words in str(error.value)


# --- maps ------------------------------------------------------------------------------


def test_hand_tprs(dataset) -> None:
    result = compute_tpr(dataset, Selection("Adamawa"))
    got = {(r.lga, r.ward): r.tpr for r in result.wards.itertuples()}
    for key, expected in HAND_TPR.items():
        if expected is None:
            assert np.isnan(got[key])
        else:
            assert got[key] == pytest.approx(expected)


def test_classes_are_fixed_and_blank_has_its_own() -> None:
    values = np.array([0.0, 9.99, 10.0, 19.99, 20.0, 49.99, 50.0, 100.0, np.nan])
    assert class_of(values, TPR_STYLE.breaks).tolist() == [0, 0, 1, 1, 2, 4, 5, 5, -1]


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_map_colours_each_ward_by_its_class_and_blank_wards_grey(
    dataset, boundaries, report
) -> None:
    import matplotlib.image

    result = compute_tpr(dataset, Selection("Adamawa"))
    figure, axes = draw_ward_map(result.wards, "tpr", boundaries, report, TPR_STYLE, "t")
    png = figure_png(figure)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    assert (width, height) == MAP_SIZE_PX
    pixels = np.rint(image[..., :3] * 255).astype(int)
    # By hand: file polygon -> expected colour (class of the hand TPR, grey without data).
    expected = {
        ("FUFORE", "Yelwa"): TPR_COLOURS[0],  # 5 %
        ("YOLA NORTH", "Yelwa"): TPR_COLOURS[2],  # 25 %
        ("SONG", "Yelwa"): TPR_COLOURS[5],  # 60 %
        ("FUFORE", "Bille"): NO_DATA_COLOUR,  # blank TPR
        ("FUFORE", "Ribbadu"): TPR_COLOURS[4],  # 45 %
        ("SONG", "Ngurure"): TPR_COLOURS[2],  # 20 %
        ("YOLA NORTH", "Jabbi Lamba"): NO_DATA_COLOUR,  # polygon without data
        ("GIREI", "Dakri"): NO_DATA_COLOUR,
        ("MAYO BELWA", "Gorobi"): TPR_COLOURS[5],  # 50 %
        ("FUFORE", "Extra"): NO_DATA_COLOUR,
    }
    grey = _rgb(NO_DATA_COLOUR)
    for ward in boundaries.wards.itertuples():
        point = shapely.point_on_surface(ward.geometry)
        x, y = axes.transData.transform((point.x, point.y))
        pixel = pixels[int(round(height - y)), int(round(x))]
        colour = expected[(ward.lga, ward.ward)]
        assert np.abs(pixel - _rgb(colour)).max() <= 1, (ward.lga, ward.ward, pixel, colour)
        if colour != NO_DATA_COLOUR:
            assert np.abs(pixel - grey).max() > 10
    assert NO_DATA_COLOUR not in TPR_COLOURS


def test_completeness_by_ward_by_hand(dataset) -> None:
    table_ = ward_completeness(dataset, Selection("Adamawa"))
    by_ward = {(r.lga, r.ward): r for r in table_.itertuples()}
    # One facility-month per ward; it reports for RDT when its RDT tested cell is > 0.
    assert by_ward[("Fufore", "Yelwa")].rdt_completeness == 100.0
    assert by_ward[("Fufore", "Bille")].rdt_completeness == 0.0
    assert by_ward[("Fufore", "Bille")].facility_months == 1
    assert by_ward[("Song", "Ngurore")].microscopy_completeness == 0.0
    assert by_ward[("Song", "Ngurore")].any_completeness == 100.0


# --- GeoJSON export --------------------------------------------------------------------


def test_geojson_export_round_trips_with_the_results_columns(dataset, boundaries, report) -> None:
    result = compute_tpr(dataset, Selection("Adamawa"))
    data = result_geojson_bytes(result, boundaries, report)
    read = gpd.read_file(io.BytesIO(data))
    assert read.crs.to_epsg() == 4326
    assert [c for c in read.columns if c != "geometry"] == list(result.wards.columns)
    assert len(read) == len(result.wards)
    rates = {"tpr", "rdt_tpr", "microscopy_tpr", "tpr_opd"}  # 2 decimals, as in the CSV
    for exported, (_, ward) in zip(read.to_dict("records"), result.wards.iterrows(), strict=True):
        for column, value in ward.items():
            got = exported[column]
            if isinstance(value, str):
                assert got == value, column
            elif value is None or np.isnan(float(value)):
                assert got is None or np.isnan(float(got)), column
            elif column in rates:
                assert got == pytest.approx(round(float(value), 2)), column
            else:
                assert got == value, column
    geometry = {(r.lga, r.ward): r.geometry for r in read.itertuples()}
    assert geometry[("Fufore", "Gereng")] is None  # data ward without polygon
    assert geometry[("Song", "Yelwa")].normalize().equals_exact(_square(2, 0).normalize(), 1e-6)
    xmin, ymin, xmax, ymax = read.total_bounds
    assert 2 < xmin < xmax < 15 and 4 < ymin < ymax < 14


def test_a_state_without_any_polygon_gets_a_sentence(dataset) -> None:
    from actions.tpr import TPRDataError

    kano = boundary_frame()
    kano["statename"] = "Kano"
    other = read_boundaries(geojson_bytes(kano))
    report = match_wards(data_wards_of(dataset), other.wards)
    result = compute_tpr(dataset, Selection("Adamawa"))
    with pytest.raises(TPRDataError) as error:
        draw_ward_map(result.wards, "tpr", other, report, TPR_STYLE, "t")
    assert "none of the wards of Adamawa has a polygon" in str(error.value)
    assert "It holds wards of Kano." in str(error.value)


# --- command line ----------------------------------------------------------------------


def test_sample_boundaries_and_map_commands(tmp_path: Path, capsys) -> None:
    from actions.tpr.cli import main
    from actions.tpr.sample import sample_frame, write_sample_file

    workbook = write_sample_file(sample_frame("A", states=2, rows_per_state=300, seed=9),
                                 tmp_path / "two.xlsx")  # fmt: skip
    zipped = tmp_path / "wards.zip"
    assert main(["sample-boundaries", "--like", str(workbook), "--out", str(zipped),
                 "--crs", "EPSG:32632"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "data ward without polygon:" in printed and "misspelt ward:" in printed
    with zipfile.ZipFile(zipped) as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".shx", ".dbf", ".prj"}
    assert gpd.read_file(f"zip://{zipped}").crs.to_epsg() == 32632

    png, geojson = tmp_path / "map.png", tmp_path / "map.geojson"
    for out in (png, geojson):
        assert main(["map", str(workbook), "--boundaries", str(zipped), "--state", "adamawa",
                     "--age-group", "u5", "--out", str(out)]) == 0  # fmt: skip
    assert png.read_bytes().startswith(b"\x89PNG")
    read = gpd.read_file(geojson)
    assert read.crs.to_epsg() == 4326 and set(read["state"]) == {"Adamawa"}
    assert main(["map", str(workbook), "--boundaries", str(zipped), "--state", "Kano",
                 "--out", str(png)]) == 1  # fmt: skip
    assert "couldn't find 'Kano'" in capsys.readouterr().err


def test_shapefile_in_a_subfolder_of_the_zip_is_found() -> None:
    with zipfile.ZipFile(io.BytesIO(shapefile_zip_bytes(boundary_frame()))) as archive:
        parts = {f"Nigeria wards/{n}": archive.read(n) for n in archive.namelist()}
    parts["__MACOSX/Nigeria wards/._wards.shp"] = b"junk"
    read = read_boundaries(_zip(parts))
    assert len(read.wards) == len(FILE_WARDS)
