"""Deterministic synthetic ultrasound cine loops for the demo cases and the tests.

``write_cine(spec, path)`` writes a valid Ultrasound Multi-frame Image Storage file: 8-bit
MONOCHROME2, Explicit VR Little Endian, a Sequence of Ultrasound Regions around the imaged sector
and a fake-patient banner burned in above it, outside every region, as real scanners do. Everything
random is seeded from ``case_id``, so the same spec always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from qa_meeting.errors import ValidationError
from qa_meeting.imaging.synthetic_scenes import SCENES, Arr, Canvas, Moment, Probe

US_MULTIFRAME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.3.1")
BANNER_ROWS = 28  # the burned-in patient banner; ultrasound regions start below it
_MARGIN = 4


@dataclass(frozen=True)
class CineSpec:
    """Everything that determines one synthetic loop; ``case_id`` seeds all randomness."""

    case_id: str
    scene: str
    rows: int = 360
    columns: int = 480
    frames: int = 40
    frame_time_ms: float = 33.3
    heart_rate_bpm: float = 80.0
    respiratory_rate_bpm: float = 16.0
    image_quality: int = 4  # ACEP scale: 5 excellent ... 1 no recognisable structures
    lv_function: float = 0.6  # LV ejection fraction, 0-1
    dilated_rv: bool = False
    effusion: bool = False  # pericardial effusion in the cardiac scenes
    fluid: bool = False  # free fluid in Morison's pouch ("fast_ruq")
    lung_sliding: bool = True
    ivc_collapsibility: float = 0.5  # fraction the IVC diameter falls on inspiration
    aorta_diameter_cm: float = 2.0
    dissection_flap: bool = False
    patient_name: str = "DEMO^PATIENT"
    patient_id: str = "DEMO0001"
    patient_birth_date: str = "19600101"
    patient_sex: str = "O"
    patient_age: str = "065Y"
    study_date: str = "20250101"
    study_time: str = "090000"
    operator_name: str = "TRAINEE^DEMO"
    institution_name: str = "Demo General Hospital"
    manufacturer: str = "QA Meeting Demo"
    model_name: str = "Synthetic Probe 1"
    study_description: str = "POCUS demo"
    accession_number: str = ""  # empty: derived from case_id
    study_key: str = ""  # loops sharing a study_key share a Study Instance UID; empty: case_id

    def __post_init__(self) -> None:
        checks = (
            ("scene", self.scene in SCENES, f"one of {', '.join(SCENES)}"),
            ("rows", 160 <= self.rows <= 2048, "between 160 and 2048"),
            ("columns", 200 <= self.columns <= 2048, "between 200 and 2048"),
            ("frames", 1 <= self.frames <= 2000, "between 1 and 2000"),
            ("frame_time_ms", 1.0 <= self.frame_time_ms <= 1000.0, "between 1 and 1000"),
            ("heart_rate_bpm", 20.0 <= self.heart_rate_bpm <= 250.0, "between 20 and 250"),
            ("image_quality", self.image_quality in range(1, 6), "an integer from 1 to 5"),
            ("lv_function", 0.0 <= self.lv_function <= 0.95, "between 0 and 0.95"),
            ("ivc_collapsibility", 0.0 <= self.ivc_collapsibility <= 1.0, "between 0 and 1"),
            ("aorta_diameter_cm", 0.5 <= self.aorta_diameter_cm <= 9.0, "between 0.5 and 9"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise ValidationError(
                    f"CineSpec.{name} = {getattr(self, name)!r} must be {allowed}."
                )


def scene_names() -> tuple[str, ...]:
    """The scenes a ``CineSpec`` may name."""
    return tuple(SCENES)


@dataclass(frozen=True)
class _Layout:
    canvas: Canvas
    mask: Arr  # 1 inside the imaged sector, within the region's bounding box
    box: tuple[int, int, int, int]  # region bounding box: min x, min y, max x, max y (inclusive)
    cm_per_px: float
    skin_px: tuple[int, int]  # transducer face centre, the region's reference pixel


def _seed(spec: CineSpec) -> int:
    return int.from_bytes(hashlib.sha256(spec.case_id.encode()).digest()[:8], "big")


def _layout(spec: CineSpec, rng: np.random.Generator) -> _Layout:
    """Fit the probe's footprint below the banner and work out each pixel's coordinates in cm."""
    p: Probe = SCENES[spec.scene].probe
    top, avail_h, avail_w = (
        BANNER_ROWS + _MARGIN,
        spec.rows - BANNER_ROWS - 2 * _MARGIN,
        spec.columns - 2 * _MARGIN,
    )
    if p.kind == "sector":
        r_far = p.apex_offset_cm + p.depth_cm
        top_cm = p.apex_offset_cm * math.cos(p.half_angle_rad)
        cm_per_px = max(
            (r_far - top_cm) / avail_h, 2 * r_far * math.sin(p.half_angle_rad) / avail_w
        )
    else:
        top_cm, cm_per_px = 0.0, max(p.depth_cm / avail_h, p.width_cm / avail_w)
    cx, apex_y = (spec.columns - 1) / 2, top - top_cm / cm_per_px  # virtual apex, in pixels
    ys, xs = np.mgrid[0 : spec.rows, 0 : spec.columns].astype(np.float32)
    x, z_apex = (xs - cx) * cm_per_px, (ys - apex_y) * cm_per_px
    if p.kind == "sector":
        radius, theta = np.hypot(x, z_apex), np.arctan2(x, z_apex)
        axial, lateral = radius - p.apex_offset_cm, theta / p.half_angle_rad
    else:
        axial, lateral = z_apex, x / (p.width_cm / 2)
    inside = (axial >= 0) & (axial <= p.depth_cm) & (np.abs(lateral) <= 1.0)
    rows_in, cols_in = np.nonzero(inside)
    y0, y1, x0, x1 = int(rows_in.min()), int(rows_in.max()), int(cols_in.min()), int(cols_in.max())
    crop = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    shape = (y1 - y0 + 1, x1 - x0 + 1)
    canvas = Canvas(
        x=np.ascontiguousarray(x[crop][:1]),
        z=np.ascontiguousarray((z_apex - p.apex_offset_cm)[crop][:, :1]),
        axial=axial[crop],
        lateral=lateral[crop],
        probe=p,
        speckle_fields=tuple(_speckle_field(rng, shape) for _ in range(4)),  # type: ignore[arg-type]
        jitter=tuple(float(v) for v in rng.random(8)),
    )
    skin = (round(cx), round(apex_y + p.apex_offset_cm / cm_per_px))
    return _Layout(canvas, inside[crop].astype(np.float32), (x0, y0, x1, y1), cm_per_px, skin)


def _speckle_field(rng: np.random.Generator, shape: tuple[int, int]) -> Arr:
    """Gaussian noise blurred more laterally than axially, as a beam's resolution cell is."""
    g = rng.standard_normal(shape, dtype=np.float32)
    g = g + np.roll(g, 1, axis=1) + np.roll(g, -1, axis=1)
    g = g + 0.7 * (np.roll(g, 2, axis=1) + np.roll(g, -2, axis=1))
    g = g + 0.8 * np.roll(g, 1, axis=0)
    return g * np.float32(math.sqrt(2 / math.pi) / float(g.std()))  # so |re + i im| has mean 1


def _quality_fields(spec: CineSpec, c: Canvas, rng: np.random.Generator) -> tuple[Arr, Arr, float]:
    """Static shadowing and dropout, near-field haze and the noise level for a poor-quality scan."""
    severity = (5 - spec.image_quality) / 4
    gain = (1.0 - 0.3 * c.axial / c.probe.depth_cm) * (1.0 - 0.2 * c.lateral**2)
    coarse = rng.random((6, 8)).astype(np.float32)
    blotch = np.asarray(
        Image.fromarray(coarse, mode="F").resize(c.axial.shape[::-1], Image.Resampling.BILINEAR)
    )
    gain = gain * np.clip(1.0 - 1.6 * severity * blotch, 0.05, 1.0)
    for _ in range(int(3 * severity)):  # rib or gas shadows fanning out from the probe
        centre, start = (
            float(rng.uniform(-0.8, 0.8)),
            float(rng.uniform(0.5, 0.4 * c.probe.depth_cm)),
        )
        beam = np.clip((0.18 - np.abs(c.lateral - centre)) / 0.06, 0.0, 1.0)
        gain = gain * (1.0 - 0.85 * beam * np.clip((c.axial - start) / 0.3, 0.0, 1.0))
    haze = (0.35 * severity * np.exp(-c.axial / 2.5)).astype(np.float32)
    return gain.astype(np.float32), haze, 0.03 + 0.15 * severity


def _moment(spec: CineSpec, index: int, phase: float) -> Moment:
    seconds = index * spec.frame_time_ms / 1000.0
    beat = (seconds * spec.heart_rate_bpm / 60.0 + phase) % 1.0
    breath = seconds * spec.respiratory_rate_bpm / 60.0 + phase
    return Moment(
        index=index,
        fraction=index / max(spec.frames - 1, 1),
        seconds=seconds,
        systole=math.sin(math.pi * beat / 0.4) if beat < 0.4 else 0.0,
        inspiration=0.5 - 0.5 * math.cos(2 * math.pi * breath),
    )


def render_cine(spec: CineSpec, *, banner: bool = True) -> NDArray[np.uint8]:
    """The loop's pixels, shape (frames, rows, columns); ``banner=False`` leaves the top black."""
    return _render(spec, banner)[0]


def _render(spec: CineSpec, banner: bool) -> tuple[NDArray[np.uint8], _Layout]:
    rng = np.random.default_rng(_seed(spec))
    layout = _layout(spec, rng)
    c, (x0, y0, x1, y1) = layout.canvas, layout.box
    gain, haze, noise_sd = _quality_fields(spec, c, rng)
    noise_bank = rng.standard_normal((3, *c.axial.shape), dtype=np.float32) * np.float32(noise_sd)
    scale = layout.mask * np.float32(255.0)
    phase = c.jitter[7]
    out = np.zeros((spec.frames, spec.rows, spec.columns), dtype=np.uint8)
    for i in range(spec.frames):
        intensity = SCENES[spec.scene].draw(c, _moment(spec, i, phase), spec) * gain
        value = (
            intensity * 1.6 / (intensity + 0.6)
        )  # log-like compression of the echo dynamic range
        value += haze + np.roll(noise_bank[i % 3], 37 * i, axis=1)
        out[i, y0 : y1 + 1, x0 : x1 + 1] = np.clip(value, 0.0, 1.0) * scale
    if banner:
        out[:, :BANNER_ROWS, :] = _banner(spec)
    return out, layout


def _banner(spec: CineSpec) -> NDArray[np.uint8]:
    """White fake-patient text on the top strip, drawn on a canvas that cannot reach the regions."""
    image = Image.new("L", (spec.columns, BANNER_ROWS), 0)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    name = spec.patient_name.replace("^", " ")
    dob, when = _dashed(spec.patient_birth_date), _dashed(spec.study_date)
    draw.text((4, 1), f"{name}   ID {spec.patient_id}   DOB {dob}", fill=255, font=font)
    draw.text(
        (4, 14),
        f"{spec.institution_name}   {when} {spec.study_time[:2]}:{spec.study_time[2:4]}",
        fill=255,
        font=font,
    )
    return np.asarray(image, dtype=np.uint8)


def _dashed(date: str) -> str:
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else date


def _uid(*parts: str) -> UID:
    return generate_uid(entropy_srcs=["qa-meeting-synthetic", *parts])


def _region(layout: _Layout) -> Dataset:
    x0, y0, x1, y1 = layout.box
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 2  # scaling protected
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1, y1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = layout.cm_per_px
    region.ReferencePixelX0, region.ReferencePixelY0 = (
        layout.skin_px[0] - x0,
        layout.skin_px[1] - y0,
    )
    region.ReferencePixelPhysicalValueX = region.ReferencePixelPhysicalValueY = 0.0
    return region


def build_dataset(spec: CineSpec) -> Dataset:
    """The complete DICOM dataset (file meta included) for ``spec``."""
    pixels, layout = _render(spec, banner=True)
    scene = SCENES[spec.scene]
    study_key = spec.study_key or spec.case_id
    sop_uid = _uid("instance", repr(spec))  # any change to the spec is a new instance

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = "QA_MEETING_SYN1"
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128

    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME_STORAGE, sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = spec.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = spec.study_time
    ds.AccessionNumber = spec.accession_number or f"DA{_seed(spec) % 10**8:08d}"
    ds.Modality = "US"
    ds.Manufacturer, ds.ManufacturerModelName = spec.manufacturer, spec.model_name
    ds.InstitutionName = spec.institution_name
    ds.ReferringPhysicianName = ""
    ds.StudyDescription, ds.SeriesDescription = spec.study_description, scene.label
    ds.OperatorsName = spec.operator_name
    ds.SoftwareVersions = "qa_meeting synthetic 1"
    ds.PatientName, ds.PatientID = spec.patient_name, spec.patient_id
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = (
        spec.patient_birth_date,
        spec.patient_sex,
        spec.patient_age,
    )
    ds.BodyPartExamined = scene.body_part
    ds.FrameTime = f"{spec.frame_time_ms:.4g}"
    fps = round(1000.0 / spec.frame_time_ms)
    ds.CineRate = ds.RecommendedDisplayFrameRate = fps
    ds.HeartRate = round(spec.heart_rate_bpm)
    ds.StudyInstanceUID = _uid("study", study_key)
    ds.SeriesInstanceUID = _uid("series", spec.case_id, spec.scene)
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.PatientOrientation = ""
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames = spec.frames
    ds.FrameIncrementPointer = Tag(0x0018, 0x1063)  # FrameTime
    ds.Rows, ds.Columns = spec.rows, spec.columns
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.BurnedInAnnotation = "YES"
    ds.LossyImageCompression = "00"
    ds.SequenceOfUltrasoundRegions = Sequence([_region(layout)])
    raw = pixels.tobytes()
    ds.PixelData = raw + b"\x00" * (len(raw) % 2)  # OB values have even length
    ds["PixelData"].VR = "OB"
    return ds


def write_cine(spec: CineSpec, path: Path) -> Path:
    """Write the loop for ``spec`` to ``path`` atomically (temporary file, then rename)."""
    dataset = build_dataset(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            dcmwrite(file, dataset, enforce_file_format=True)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
