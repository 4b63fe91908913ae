"""Ward boundary files (GeoJSON, zipped shapefile, GeoPackage) -> one polygon per ward.

Read with pyogrio (GDAL wheels), reprojected with pyproj to WGS 84, repaired with shapely's
`make_valid`. Names go through the same cleaning as the workbooks (`names.clean_name`), so a
polygon's key is (state, LGA, ward), never a ward name alone. Two geometries are kept:

- `export_wkt`: the file's exact geometry (repaired, in WGS 84), coordinates rounded to
  EXPORT_DECIMALS = 6 decimal places (about 0.1 m): the GeoJSON export is not simplified;
- `geometry`: simplified by DRAW_TOLERANCE_DEG (about 110 m, under a pixel of a state map on
  a phone) for drawing, so that a national map renders in seconds.

The stored form is GeoParquet (zstd) of the wards behind a small header; rounded WKT text
compresses to a fraction of the GeoJSON's size.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.errors import TPRDataError
from actions.tpr.names import clean_name, name_key

DRAW_TOLERANCE_DEG = 0.001  # ~110 m
EXPORT_DECIMALS = 6  # ~0.1 m
# Nigeria spans about 2.7-14.7 E and 4.2-13.9 N; a margin allows for coarse files.
NIGERIA_BOUNDS = (2.0, 3.5, 15.5, 14.5)  # min lon, min lat, max lon, max lat

GEOPACKAGE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_PACK_MAGIC = b"TPRB2"

# Attribute names by meaning, compared after casefolding and dropping `_`, `-` and spaces.
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "state": ("statename", "state", "adm1name", "admin1name", "statenm", "stname"),
    "lga": ("lganame", "lga", "adm2name", "admin2name", "lganm", "lganame1"),
    "ward": ("wardname", "ward", "adm3name", "admin3name", "wardnm", "wardname1"),
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
ACCEPTED_BOUNDARIES = (
    "Please upload ward boundaries as GeoJSON, a zipped shapefile (.shp, .shx, .dbf, .prj) "
    "or a GeoPackage, for example GRID3's Nigeria ward boundaries."
)


class BoundaryFileError(TPRDataError):
    """A boundary file we cannot use; the message is for the analyst."""


def boundary_kind(data: bytes) -> str | None:
    """`geojson`, `gpkg` or `shp.zip` from the content; None when it is none of them.

    A zip is a shapefile when it holds shapefile parts, even incomplete ones (so that a zip
    without its .dbf is told so) and is not an xlsx; GeoJSON is JSON text opening with `{`
    (no CSV does); a GeoPackage is an SQLite file.
    """
    if data.startswith(GEOPACKAGE_MAGIC):
        return "gpkg"
    if data.startswith(ZIP_MAGICS):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [entry.filename.lower() for entry in archive.infolist()]
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        shapefile = any(name.endswith(SHAPEFILE_PARTS) for name in names)
        return "shp.zip" if shapefile and "xl/workbook.xml" not in names else None
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "geojson" if head.startswith(b"{") else None


@dataclass
class Boundaries:
    """Ward polygons in WGS 84 with cleaned (state, LGA, ward) names.

    `wards`: GeoDataFrame with state, lga, ward, export_wkt (exact, rounded) and geometry
    (simplified, for drawing); `export_wkt` is absent when loaded for drawing only.
    LGA outlines are made on first use, per state, and kept with the object (the stores keep
    decoded boundaries), so the upload does not pay for the outlines of every state.
    """

    wards: Any
    meta: dict[str, Any] = field(default_factory=dict)
    _outlines: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """What the upload answers and the conversation reports."""
        states = sorted({s for s in self.wards["state"] if s}, key=str.casefold)
        lgas = {
            (name_key(s), name_key(lga))
            for s, lga in zip(self.wards["state"], self.wards["lga"], strict=True)
        }
        return {
            "kind": "boundaries",
            "wards": int(len(self.wards)),
            "lgas": len(lgas),
            "states": states,
            **self.meta,
        }

    def lga_outlines(self, state_keys: set[str]) -> np.ndarray:
        """Outline polygons of the LGAs of the states whose `name_key` is in `state_keys`."""
        keys = self.wards["state"].map(name_key).to_numpy()
        out = []
        for key in sorted(state_keys):
            if key not in self._outlines:
                rows = np.flatnonzero(keys == key)
                table = self.wards.iloc[rows][["state", "lga"]].reset_index(drop=True)
                draw = np.asarray(self.wards.geometry.values, dtype=object)[rows]
                self._outlines[key] = lga_outlines(table, draw)
            out.append(self._outlines[key])
        return np.concatenate(out) if out else np.array([], dtype=object)

    def to_bytes(self) -> bytes:
        """GeoParquet (zstd) of the wards with a length-prefixed JSON header of `meta`."""
        buffer = io.BytesIO()
        self.wards.to_parquet(buffer, compression="zstd", index=False)
        meta = pd.Series(self.meta, dtype=object).to_json().encode("utf-8")
        return _PACK_MAGIC + struct.pack("<Q", len(meta)) + meta + buffer.getvalue()

    def export_geometry(self) -> Any:
        """The exact geometries (rounded to 6 decimals) as a GeoSeries in WGS 84."""
        import geopandas as gpd

        if "export_wkt" not in self.wards:
            raise ValueError("boundaries loaded without their export geometry")
        return gpd.GeoSeries.from_wkt(self.wards["export_wkt"], crs=4326)

    @classmethod
    def from_bytes(cls, data: bytes, with_export: bool = True) -> Boundaries:
        import json

        import geopandas as gpd

        if not data.startswith(_PACK_MAGIC):
            raise BoundaryFileError("These stored boundaries are damaged. Please upload again.")
        offset = len(_PACK_MAGIC)
        (n_meta,) = struct.unpack("<Q", data[offset : offset + 8])
        offset += 8
        meta = json.loads(data[offset : offset + n_meta])
        columns = None if with_export else ["state", "lga", "ward", "geometry"]
        wards = gpd.read_parquet(io.BytesIO(data[offset + n_meta :]), columns=columns)
        return cls(wards=wards, meta=meta)


def _field_key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name)).casefold()


def find_name_fields(columns: list[str]) -> dict[str, str | None]:
    """{'state': column or None, 'lga': column, 'ward': column}; BoundaryFileError without
    LGA and ward fields. GRID3's `statename`/`lganame`/`wardname`, `State`, `LGA_NAME`, …"""
    by_key = {_field_key(column): column for column in columns if column != "geometry"}
    found: dict[str, str | None] = {}
    for meaning, candidates in NAME_FIELDS.items():
        found[meaning] = next((by_key[c] for c in candidates if c in by_key), None)
    missing = [m.upper() if m == "lga" else m for m in ("lga", "ward") if not found[m]]
    if missing:
        shown = ", ".join(c for c in columns if c != "geometry")[:300] or "none"
        raise BoundaryFileError(
            f"The boundary file has no {' or '.join(missing)} name field, so its polygons "
            f"cannot be matched to wards. Its fields are: {shown}. It needs fields such as "
            "statename, lganame and wardname (as in GRID3's ward boundaries)."
        )
    return found


def _read_frame(data: bytes, kind: str) -> Any:
    """The file's first polygon layer as a GeoDataFrame, in its own CRS."""
    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "shp.zip":
            return _read_shapefile_zip(data)
        if kind == "geojson":
            _check_feature_collection(data)
        source = io.BytesIO(data)
        layer = None
        if kind == "gpkg":
            layers = pyogrio.list_layers(io.BytesIO(data))
            polygon_layers = [str(n) for n, gtype in layers if "polygon" in str(gtype).lower()]
            if not len(layers):
                raise BoundaryFileError("The GeoPackage holds no layers. " + ACCEPTED_BOUNDARIES)
            layer = polygon_layers[0] if polygon_layers else str(layers[0][0])
        return pyogrio.read_dataframe(source, layer=layer, use_arrow=True)


def _check_feature_collection(data: bytes) -> None:
    if not re.search(rb'"type"\s*:\s*"FeatureCollection"', data):
        raise BoundaryFileError(
            "This GeoJSON is not a FeatureCollection of ward polygons (one feature per "
            "ward). " + ACCEPTED_BOUNDARIES
        )


def _read_shapefile_zip(data: bytes) -> Any:
    """Extract one shapefile's parts (names sanitised) to a private folder and read it."""
    import pyogrio

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {}
        for entry in archive.infolist():
            path = PurePosixPath(entry.filename.replace("\\", "/"))
            if entry.is_dir() or path.name.startswith("._") or "__MACOSX" in path.parts:
                continue
            suffix = path.suffix.lower()
            if suffix in SHAPEFILE_PARTS:
                stem = str(path.with_suffix("")).casefold()
                entries.setdefault(stem, {})[suffix] = entry
        complete = {s: parts for s, parts in entries.items() if ".shp" in parts and ".dbf" in parts}
        if not complete:
            have = sorted({suffix for parts in entries.values() for suffix in parts})
            lacking = [p for p in (".shp", ".dbf") if p not in have] or [".shp", ".dbf"]
            raise BoundaryFileError(
                f"The zip holds no complete shapefile: the {' and '.join(lacking)} part is "
                f"missing (found: {', '.join(have) or 'none'}). Zip the .shp, .shx, .dbf and "
                ".prj files of the ward layer together and upload the zip."
            )
        stem = max(complete, key=lambda s: complete[s][".shp"].file_size)
        with tempfile.TemporaryDirectory(prefix="tpr-shp-") as folder:
            for suffix, entry in complete[stem].items():
                with (
                    archive.open(entry) as source,
                    open(os.path.join(folder, "wards" + suffix), "wb") as target,
                ):
                    while chunk := source.read(1 << 20):
                        target.write(chunk)
            return pyogrio.read_dataframe(
                os.path.join(folder, "wards.shp"), use_arrow=True, encoding=None
            )


def _polygonal(geometries: Any) -> Any:
    """Repair invalid geometries and keep only their polygonal parts (MultiPolygon)."""
    import shapely

    values = np.asarray(geometries, dtype=object)
    invalid = ~shapely.is_valid(values)
    if invalid.any():
        values = values.copy()
        values[invalid] = shapely.make_valid(values[invalid])
    types = shapely.get_type_id(values)
    odd = (types != 3) & (types != 6)  # not Polygon or MultiPolygon (collections after repair)
    if odd.any():
        values = values.copy()
        for index in np.flatnonzero(odd):
            parts = shapely.get_parts(values[index])
            polygons = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
            values[index] = shapely.union_all(polygons) if polygons else None
    return values, int(invalid.sum())


def read_boundaries(data: bytes, filename: str = "") -> Boundaries:
    """Parse a boundary file's bytes; BoundaryFileError with a sentence for any bad input."""
    import geopandas as gpd
    import shapely

    kind = boundary_kind(data)
    if kind is None:
        raise BoundaryFileError("This is not a boundary file. " + ACCEPTED_BOUNDARIES)
    try:
        frame = _read_frame(data, kind)
    except BoundaryFileError:
        raise
    except Exception as error:  # noqa: BLE001 - GDAL's errors are not for the analyst
        raise BoundaryFileError(
            "The boundary file could not be read (it may be damaged or incomplete). "
            + ACCEPTED_BOUNDARIES
        ) from error
    if len(frame) == 0:
        raise BoundaryFileError("The boundary file holds no features. " + ACCEPTED_BOUNDARIES)

    geoms = frame.geometry.values
    present = ~shapely.is_missing(np.asarray(geoms, dtype=object))
    types = set(shapely.get_type_id(np.asarray(geoms, dtype=object)[present]).tolist())
    if not types or not types <= {3, 6}:
        names = {0: "points", 1: "lines", 2: "lines", 4: "points", 5: "lines", 7: "mixed"}
        found = sorted({names.get(t, "other shapes") for t in types if t not in (3, 6)})
        raise BoundaryFileError(
            f"The file holds {' and '.join(found) or 'no shapes'}, not ward polygons. "
            + ACCEPTED_BOUNDARIES
        )
    fields = find_name_fields([str(c) for c in frame.columns])
    frame = frame[present].copy()
    dropped_empty = int((~present).sum())

    declared_crs = frame.crs.to_string() if frame.crs is not None else None
    if frame.crs is None:
        xmin, ymin, xmax, ymax = frame.total_bounds
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            raise BoundaryFileError(
                "The boundary file does not say which coordinate system it uses (no .prj or "
                "crs) and its coordinates are not longitude/latitude. Please export it again "
                "with its .prj file, or in WGS 84 (EPSG:4326)."
            )
        frame = frame.set_crs(4326)
    elif not frame.crs.equals(4326):
        frame = frame.to_crs(4326)

    geometry, repaired = _polygonal(frame.geometry.values)
    keep = ~shapely.is_missing(geometry) & ~shapely.is_empty(geometry)
    xmin, ymin, xmax, ymax = shapely.bounds(geometry[keep]).T
    lon0, lat0, lon1, lat1 = NIGERIA_BOUNDS
    outside = (xmin < lon0) | (ymin < lat0) | (xmax > lon1) | (ymax > lat1)
    if outside.any():
        raise BoundaryFileError(
            f"{int(outside.sum()):,} of the file's {int(keep.sum()):,} polygons lie outside "
            "Nigeria once reprojected to WGS 84, so the file's coordinate system is probably "
            "wrong or missing (check the .prj file or the GeoJSON crs) or the file is not of "
            "Nigeria."
        )

    def names(column: str | None) -> list[str]:
        if column is None:
            return [""] * len(frame)
        return [clean_name(value) for value in frame[column].to_numpy(dtype=object)]

    table = pd.DataFrame(
        {
            "state": names(fields["state"]),
            "lga": names(fields["lga"]),
            "ward": names(fields["ward"]),
        }  # fmt: skip
    )
    keep &= (table["lga"] != "").to_numpy() & (table["ward"] != "").to_numpy()
    unnamed = int(len(table) - keep.sum())
    table, geometry = table[keep].reset_index(drop=True), geometry[keep]

    # One polygon per (state, LGA, ward): parts of a ward in several features are merged.
    keys = pd.Series(
        [f"{name_key(s)}|{name_key(lg)}|{name_key(w)}" for s, lg, w in table.to_numpy()]
    )
    duplicated = keys.duplicated(keep=False).to_numpy()
    merged = 0
    if duplicated.any():
        first = ~keys.duplicated(keep="first").to_numpy()
        for key in keys[duplicated & first]:
            rows = np.flatnonzero((keys == key).to_numpy())
            geometry[rows[0]] = shapely.union_all(geometry[rows])
        merged = int(duplicated.sum() - (duplicated & first).sum())
        table, geometry = table[first].reset_index(drop=True), geometry[first]

    export_wkt = shapely.to_wkt(geometry, rounding_precision=EXPORT_DECIMALS, trim=True)
    draw = drawing_geometry(geometry)
    wards = gpd.GeoDataFrame(
        table.assign(export_wkt=export_wkt), geometry=gpd.GeoSeries(draw, crs=4326), crs=4326
    )
    meta = {
        "format": {"geojson": "GeoJSON", "gpkg": "GeoPackage", "shp.zip": "shapefile"}[kind],
        "source_name": filename,
        "fields": {k: v for k, v in fields.items() if v},
        "declared_crs": declared_crs or "none (longitude/latitude assumed)",
        "features": int(len(frame) + dropped_empty),
        "repaired": repaired,
        "without_geometry": dropped_empty,
        "without_names": unnamed,
        "merged_parts": merged,
        "export_decimals": EXPORT_DECIMALS,
        "draw_simplified_m": round(DRAW_TOLERANCE_DEG * 111_000),
    }
    return Boundaries(wards=wards, meta=meta)


def drawing_geometry(geometry: np.ndarray) -> np.ndarray:
    """Douglas-Peucker at DRAW_TOLERANCE_DEG (10x faster than the topology-preserving
    variant on a national file); the few polygons it makes invalid are redone preserving
    topology, so every drawing polygon stays a valid polygon."""
    import shapely

    draw = shapely.simplify(geometry, DRAW_TOLERANCE_DEG, preserve_topology=False)
    bad = ~shapely.is_valid(draw) | shapely.is_empty(draw)
    if bad.any():
        draw[bad] = shapely.simplify(geometry[bad], DRAW_TOLERANCE_DEG, preserve_topology=True)
    return draw


def lga_outlines(table: pd.DataFrame, geometry: np.ndarray) -> np.ndarray:
    """One outline per (state, LGA): the union of its wards' drawing polygons, outer rings
    only (slivers between wards that do not quite touch are interior and disappear)."""
    import shapely

    keys = table["state"].map(name_key) + "|" + table["lga"].map(name_key)
    outlines = []
    for _, index in keys.groupby(keys, sort=False).indices.items():
        try:
            outline = shapely.union_all(geometry[index])
        except shapely.errors.GEOSException:  # odd input: union the repaired polygons
            outline = shapely.union_all(shapely.make_valid(geometry[index]))
        parts = shapely.get_parts(outline)
        parts = parts[np.isin(shapely.get_type_id(parts), (3,))]
        outlines.append(shapely.multipolygons(shapely.polygons(shapely.get_exterior_ring(parts))))
    return np.asarray(outlines, dtype=object)
