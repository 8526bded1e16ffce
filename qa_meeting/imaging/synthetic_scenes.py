"""Anatomy for synthetic ultrasound loops: pure numpy, no I/O, no randomness of its own.

A scene maps one moment of the loop (time, cardiac and respiratory phase) to linear echo intensity
on a ``Canvas`` whose coordinates are centimetres, so anatomy is drawn in physical units while the
pixel grid, the probe's footprint, noise and grey-scale mapping stay with the renderer
(``synthetic.py``). Shapes are soft-edged masks painted over each other, back to front.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from qa_meeting.imaging.synthetic import CineSpec

Arr = NDArray[np.floating[Any]]  # float32 at run time; the stubs widen arithmetic results
Point = tuple[float, float]
BLOOD, MUSCLE, TISSUE, BRIGHT = 0.03, 0.75, 0.45, 1.0


@dataclass(frozen=True)
class Probe:
    """Footprint of the image: a sector (phased or curved array) or a rectangle (linear array)."""

    kind: Literal["sector", "linear"]
    depth_cm: float
    apex_offset_cm: float = 0.0  # virtual apex to skin: ~0 for phased, a few cm for curved arrays
    half_angle_rad: float = 0.0
    width_cm: float = 0.0


PHASED = Probe("sector", 16.0, apex_offset_cm=0.3, half_angle_rad=0.75)
CURVED = Probe("sector", 16.0, apex_offset_cm=4.5, half_angle_rad=0.6)
LUNG = Probe("sector", 10.0, apex_offset_cm=3.0, half_angle_rad=0.5)
LINEAR = Probe("linear", 4.5, width_cm=4.0)
DEEP = replace(PHASED, depth_cm=18.0)


@dataclass(frozen=True)
class Moment:
    """Where one frame sits in time and in the cardiac and respiratory cycles."""

    index: int
    fraction: float  # 0 at the first frame, 1 at the last
    seconds: float
    systole: float  # 0 at end-diastole, 1 at end-systole
    inspiration: float  # 0 at end-expiration, 1 at end-inspiration


@dataclass(frozen=True)
class Canvas:
    """Coordinates of the imaged area's bounding box (cm) and the case's fixed random material.

    ``x`` depends on the column only and ``z`` on the row only (shapes (1, W) and (H, 1)), so a
    shape is drawn inside its own window of the image rather than over every pixel.
    """

    x: Arr  # lateral, + to screen right, 0 under the probe's centre; shape (1, W)
    z: Arr  # depth below the skin at the probe's centre; shape (H, 1)
    axial: Arr  # distance along the beam from the skin; shape (H, W)
    lateral: Arr  # beam position, -1 at the left edge of the image to +1 at the right; (H, W)
    probe: Probe
    speckle_fields: tuple[Arr, Arr, Arr, Arr]  # two complex Gaussian fields (re, im, re, im)
    jitter: tuple[float, ...]  # uniform [0, 1) numbers for per-case variation of the layout

    def speckle(self, moment: Moment, shift_px: int = 0) -> Arr:
        """Rayleigh speckle with mean 1 that decorrelates slowly over the loop."""
        phi = 0.4 * math.sin(2 * math.pi * 0.8 * moment.seconds) + 0.25 * moment.systole
        re0, im0, re1, im1 = self.speckle_fields
        cos, sin = math.cos(phi), math.sin(phi)
        re, im = cos * re0 + sin * re1, cos * im0 + sin * im1
        out = np.sqrt(re * re + im * im)
        return np.roll(out, shift_px, axis=1) if shift_px else out

    def beam_of(self, x: float, z: float) -> float:
        """Beam position (as in ``lateral``) through the point (x, z)."""
        if self.probe.kind == "linear":
            return x / (self.probe.width_cm / 2)
        return math.atan2(x, z + self.probe.apex_offset_cm) / self.probe.half_angle_rad

    def window(self, x: tuple[float, float], z: tuple[float, float]) -> Window:
        """The rows and columns whose centres fall within the given ranges (cm)."""
        xs, zs = self.x[0], self.z[:, 0]
        cols = slice(int(np.searchsorted(xs, x[0])), int(np.searchsorted(xs, x[1], side="right")))
        rows = slice(int(np.searchsorted(zs, z[0])), int(np.searchsorted(zs, z[1], side="right")))
        return rows, cols


Window = tuple[slice, slice]


@dataclass(frozen=True)
class Mask:
    """Soft mask values (0-1) on a window of the image."""

    window: Window
    values: Arr


def soft(value: Arr, edge: float) -> Arr:
    """0 where value < 0, 1 where value > 0, with a linear ramp ``edge`` wide."""
    ramp: Arr = np.clip(value / edge + 0.5, 0.0, 1.0)
    return ramp


def ellipse(c: Canvas, cx: float, cz: float, a: float, b: float, tilt: float = 0.0) -> Mask:
    """Soft ellipse with half-axes a (lateral) and b (depth), tilted clockwise by ``tilt`` rad."""
    reach = max(a, b) + 0.2
    rows, cols = win = c.window((cx - reach, cx + reach), (cz - reach, cz + reach))
    dx, dz = c.x[:, cols] - cx, c.z[rows] - cz
    if tilt:
        cos, sin = math.cos(tilt), math.sin(tilt)
        dx, dz = dx * cos + dz * sin, dz * cos - dx * sin
    d2 = (dx / a) ** 2 + (dz / b) ** 2
    return Mask(win, soft(1.0 - d2, 0.25 / min(a, b)))  # about 0.12 cm of blur whatever the size


def capsule(c: Canvas, start: Point, end: Point, radius: float) -> Mask:
    """Soft thick line segment with rounded ends (vessels, leaflets, flaps)."""
    reach = radius + 0.1
    xr = (min(start[0], end[0]) - reach, max(start[0], end[0]) + reach)
    rows, cols = win = c.window(xr, (min(start[1], end[1]) - reach, max(start[1], end[1]) + reach))
    px, pz = c.x[:, cols] - start[0], c.z[rows] - start[1]
    dx, dz = end[0] - start[0], end[1] - start[1]
    t = np.clip((px * dx + pz * dz) / max(dx * dx + dz * dz, 1e-9), 0.0, 1.0)
    ex, ez = px - t * dx, pz - t * dz
    return Mask(win, soft(radius - np.sqrt(ex * ex + ez * ez), 0.1))


def band(value: Arr, centre: float, half_width: float) -> Arr:
    return soft(half_width - np.abs(value - centre), half_width)


def paint(echo: Arr, mask: Mask | Arr, value: float) -> None:
    """Blend ``value`` into ``echo`` in place, as far as the mask reaches."""
    if isinstance(mask, Mask):
        part = echo[mask.window]
        part += mask.values * (value - part)
    else:
        echo += mask * (value - echo)


def chamber(echo: Arr, c: Canvas, centre: Point, radii: Point, wall: float, tilt: float) -> None:
    """A blood-filled cavity (or vessel) with a bright muscular wall."""
    (cx, cz), (a, b) = centre, radii
    paint(echo, ellipse(c, cx, cz, a + wall, b + wall, tilt), MUSCLE)
    paint(echo, ellipse(c, cx, cz, a, b, tilt), BLOOD)


def valve(echo: Arr, c: Canvas, hinges: tuple[Point, Point], toward: Point, opening: float) -> None:
    """Two leaflets that meet in the middle when closed and swing ``toward`` when open."""
    (x0, z0), (x1, z1) = hinges
    length = 0.45 * math.hypot(x1 - x0, z1 - z0)
    for hx, hz in hinges:
        closed = ((x0 + x1) / 2 + 0.2 * toward[0], (z0 + z1) / 2 + 0.2 * toward[1])
        opened = (hx + length * toward[0], hz + length * toward[1])
        tx, tz = (shut + (wide - shut) * opening for shut, wide in zip(closed, opened, strict=True))
        paint(echo, capsule(c, (hx, hz), (tx, tz), 0.08), BRIGHT)


def body_wall(c: Canvas, below: float, thickness: float = 1.5) -> Arr:
    """Skin, fat and striated muscle near the probe, then ``below`` further down."""
    echo = np.empty(c.axial.shape, dtype=np.float32)
    echo[:] = np.where(c.z < thickness, TISSUE + 0.12 * np.sin(c.z * 13.0), below)
    paint(echo, band(c.axial, 0.1, 0.08), 0.9)
    return echo


def _heart(spec: CineSpec, m: Moment) -> tuple[float, float, float]:
    """LV and RV size relative to diastole (linear size goes with the cube root of volume, so EF
    0.6 shrinks the LV to about 0.74 at end-systole), and the pericardial effusion's depth in cm."""
    lv = 1.0 - (1.0 - math.cbrt(1.0 - spec.lv_function)) * m.systole
    rv = 1.0 - (1.0 - math.cbrt(0.75 if spec.dilated_rv else 0.5)) * m.systole
    return lv, rv, 1.4 if spec.scene == "pericardial_effusion" else 0.9 if spec.effusion else 0.0


def _envelope(echo: Arr, c: Canvas, centre: Point, radii: Point, tilt: float, fluid: float) -> None:
    """Pericardium (bright), an optional effusion thicker behind the heart, then heart tissue."""
    (cx, cz), (a, b) = centre, radii
    shift = 0.35 * fluid  # fluid gathers posteriorly: a crescent, not a ring
    paint(echo, ellipse(c, cx, cz + shift, a + fluid + 0.3, b + fluid + 0.3, tilt), BRIGHT)
    if fluid:
        paint(echo, ellipse(c, cx, cz + shift, a + fluid, b + fluid, tilt), 0.0)
    paint(echo, ellipse(c, cx, cz, a, b, tilt), 0.35)


def plax(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    (k, rk, fluid), s = _heart(spec, m), m.systole
    echo = body_wall(c, 0.18)
    _envelope(echo, c, (0.3, 7.3), (6.6, 4.4), 0.12, fluid)
    rv = (3.6, 1.5) if spec.dilated_rv else (3.0, 0.9)
    chamber(echo, c, (-0.8, 3.9), (rv[0], rv[1] * rk), 0.35, 0.1)
    wall = 1.0 + 1.2 * (1.0 - k)  # walls thicken as the cavity empties
    chamber(echo, c, (-1.0, 7.3), (3.5 * (0.6 + 0.4 * k), 1.9 * k), wall, 0.12)
    chamber(echo, c, (3.9, 5.6), (1.5, 0.9), 0.3, 0.12)  # aortic root
    chamber(echo, c, (4.0, 9.4), (1.7 * (1 + 0.12 * s), 1.5 * (1 + 0.12 * s)), 0.3, 0.0)
    chamber(echo, c, (2.6, 12.4), (0.8, 0.8), 0.25, 0.0)  # descending aorta
    valve(echo, c, ((2.6, 6.4), (2.8, 8.6)), (-0.9, -0.3), 1.0 - s)  # mitral
    valve(echo, c, ((2.5, 5.0), (2.5, 6.2)), (1.0, 0.0), s)  # aortic
    return echo * c.speckle(m)


def a4c(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    (k, rk, fluid), s = _heart(spec, m), m.systole
    echo = body_wall(c, 0.18)
    _envelope(echo, c, (0.0, 8.6), (4.6, 6.6), 0.0, fluid)
    rv = (2.3, 3.6) if spec.dilated_rv else (1.3, 2.9)
    chamber(echo, c, (-2.0, 7.2), (rv[0] * rk, rv[1] * (0.7 + 0.3 * rk)), 0.35, 0.2)
    chamber(echo, c, (1.5, 6.6), (1.8 * k, 3.6 * (0.6 + 0.4 * k)), 0.9 + 1.0 * (1 - k), -0.12)
    atria = 1.5 * (1 + 0.12 * s)
    chamber(echo, c, (1.7, 12.1), (atria, atria), 0.3, 0.0)
    chamber(echo, c, (-2.0, 12.1), (atria, atria), 0.3, 0.0)
    valve(echo, c, ((0.3, 10.4), (3.1, 10.4)), (0.0, -1.0), 1.0 - s)  # mitral
    valve(echo, c, ((-3.4, 10.4), (-0.6, 10.3)), (0.0, -1.0), 1.0 - s)  # tricuspid
    return echo * c.speckle(m)


def psax(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    k, rk, fluid = _heart(spec, m)
    echo = body_wall(c, 0.18)
    _envelope(echo, c, (0.0, 8.0), (4.8, 4.4), 0.0, fluid)
    rv = (3.9, 2.0) if spec.dilated_rv else (3.0, 1.1)
    chamber(echo, c, (-1.2, 4.9), (rv[0], rv[1] * rk), 0.35, -0.3)
    lv_r = 2.1 * k
    chamber(echo, c, (0.3, 8.6), (lv_r, lv_r), 0.9 + 1.0 * (1 - k), 0.0)
    for dx, dz in ((-0.55, 0.6), (0.6, 0.5)):  # papillary muscles ride on the wall
        paint(echo, ellipse(c, 0.3 + dx * lv_r, 8.6 + dz * lv_r, 0.45, 0.4), MUSCLE)
    return echo * c.speckle(m)


def subcostal(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    (k, rk, fluid), s = _heart(spec, m), m.systole
    echo = body_wall(c, 0.18)
    paint(echo, ellipse(c, -3.0, 0.5, 10.0, 5.5), TISSUE)  # liver as the acoustic window
    _envelope(echo, c, (0.6, 10.0), (6.2, 4.2), -0.35, fluid)
    rv = (3.6, 1.6) if spec.dilated_rv else (3.3, 1.0)
    chamber(echo, c, (1.2, 7.4), (rv[0], rv[1] * rk), 0.35, -0.35)
    chamber(echo, c, (2.0, 10.4), (3.6 * (0.6 + 0.4 * k), 1.7 * k), 0.9 + 1.0 * (1 - k), -0.35)
    atria = 1.4 * (1 + 0.12 * s)
    chamber(echo, c, (-3.4, 9.0), (atria, atria), 0.3, 0.0)
    chamber(echo, c, (-2.5, 12.1), (atria, atria), 0.3, 0.0)
    return echo * c.speckle(m)


def ivc(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    echo = body_wall(c, 0.2)
    paint(echo, ellipse(c, 0.0, 4.0, 12.0, 9.5), TISSUE)  # liver
    paint(echo, ellipse(c, -7.2, 8.8, 2.3, 2.0), BLOOD)  # right atrium at the image edge
    radius = max(1.1 * (1.0 - spec.ivc_collapsibility * m.inspiration), 0.08)
    radius *= 1.0 + 0.05 * m.systole  # the atrial pulse is transmitted back
    for start, end, r in (((-6.5, 8.6), (6.0, 7.7), radius), ((-1.5, 8.3), (1.8, 4.6), 0.4)):
        paint(echo, capsule(c, start, end, r + 0.15), 0.85)
        paint(echo, capsule(c, start, end, r), BLOOD)
    paint(echo, band(c.z, 12.5 + 0.3 * m.inspiration, 0.2), BRIGHT)  # diaphragm
    return echo * c.speckle(m)


def lung(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    pleura = 2.0 + 0.1 * c.jitter[0]
    breath = math.sin(2 * math.pi * m.seconds * spec.respiratory_rate_bpm / 60.0)
    slide = round(7 * breath) if spec.lung_sliding else 0
    below = soft(c.axial - pleura, 0.1)
    echo = body_wall(c, 0.07, thickness=pleura - 0.3)
    paint(echo, band(c.axial, pleura, 0.08), 1.3)
    scene = spec.scene
    a_lines = 0.15 if scene == "lung_b_lines" else 0.7
    for k in (2, 3, 4):
        echo += a_lines * (0.75**k) * band(c.axial, k * pleura, 0.08)
    if scene == "lung_consolidation":
        edge = (
            5.0 + 0.8 * np.sin(c.lateral * 9.0 + 6.0 * c.jitter[1]) + 0.4 * np.sin(c.lateral * 23.0)
        )
        paint(echo, below * soft(edge - c.axial, 0.2), TISSUE + 0.05)
        for j in range(4):  # air bronchograms shimmer with breathing
            x0, z0 = -2.5 + 1.6 * j + 0.3 * breath, 3.0 + 0.8 * c.jitter[j + 2]
            paint(echo, capsule(c, (x0, z0), (x0 + 0.7, z0 + 1.0), 0.07), BRIGHT)
    intensity = echo * np.where(below > 0.5, c.speckle(m, slide), c.speckle(m))
    if scene == "lung_b_lines":
        lateral_slide = 0.03 * breath if spec.lung_sliding else 0.0
        for j in range(4):
            centre = -0.7 + 0.45 * j + 0.1 * c.jitter[j + 2] + lateral_slide
            intensity += 0.9 * below * band(c.lateral, centre, 0.025) * (1.2 - c.axial / 12.0)
    for side in (-1.0, 1.0):  # ribs and their acoustic shadows
        rib = c.beam_of(1.9 * side, pleura - 0.4)
        paint(intensity, ellipse(c, 1.9 * side, pleura - 0.45, 0.6, 0.2), 1.4)
        intensity *= 1.0 - 0.9 * band(c.lateral, rib, 0.13) * soft(c.axial - pleura + 0.3, 0.1)
    return intensity


def pleural_effusion(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    dx = 0.6 * m.inspiration
    echo = body_wall(c, 0.02, thickness=1.2)  # thorax full of anechoic fluid
    paint(echo, ellipse(c, 6.5 + dx, 6.0, 7.3, 11.3), BRIGHT)  # diaphragm
    paint(echo, ellipse(c, 6.5 + dx, 6.0, 7.0, 11.0), TISSUE)  # liver
    tilt = 0.55 + 0.3 * m.inspiration  # the collapsed lung flaps in the fluid
    paint(echo, ellipse(c, -3.0 + dx, 5.0, 3.0, 0.8, tilt), 0.55)
    for j in range(-3, 4):  # spine sign: vertebrae seen through the fluid
        paint(echo, ellipse(c, 2.3 * j, 13.6, 0.8, 0.3), BRIGHT)
    echo *= 1.0 - 0.9 * soft(c.z - 13.9, 0.3)
    return echo * c.speckle(m)


def fast_ruq(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    dx = 0.7 * m.inspiration  # liver and kidney slide with breathing
    echo = body_wall(c, TISSUE, thickness=1.2)
    paint(echo, ellipse(c, -10.5 + dx, 6.0, 5.0, 9.0), BRIGHT)  # diaphragm
    paint(echo, ellipse(c, -10.5 + dx, 6.0, 4.7, 8.7), 0.3)  # lung base
    for j in range(3):  # portal veins
        x0, z0 = -4.0 + 2.5 * j + dx, 3.0 + 2.0 * c.jitter[j]
        paint(echo, capsule(c, (x0, z0), (x0 + 1.2, z0 + 0.6), 0.45), 0.85)
        paint(echo, capsule(c, (x0, z0), (x0 + 1.2, z0 + 0.6), 0.3), BLOOD)
    kx, kz, a, b, tilt = 2.2 + dx, 9.2, 4.2, 2.0, 0.3
    if spec.fluid or spec.scene == "fast_ruq_fluid":  # free fluid in Morison's pouch
        paint(echo, ellipse(c, kx - 0.3, kz - 0.6, a + 0.9, b + 0.8, tilt), 0.0)
    paint(echo, ellipse(c, kx, kz, a + 0.35, b + 0.35, tilt), 0.9)  # perirenal fat
    paint(echo, ellipse(c, kx, kz, a, b, tilt), 0.32)  # cortex
    for along in (-2.4, -0.8, 0.8, 2.4):  # pyramids
        paint(echo, ellipse(c, kx + along, kz + 0.3 * along + 1.0, 0.5, 0.45), 0.12)
    paint(echo, ellipse(c, kx, kz, a * 0.55, b * 0.35, tilt), 0.85)  # sinus fat
    return echo * c.speckle(m)


def dvt(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    thrombus = spec.scene == "dvt_thrombus"
    press = math.sin(math.pi * m.fraction) ** 2  # the probe presses, then releases
    c = replace(c, z=c.z * (1.0 + 0.15 * press))  # tissue squashes towards the probe
    echo = body_wall(c, 0.4, thickness=1.1)
    paint(echo, band(c.z, 1.15, 0.05), 0.9)  # fascia
    artery = 0.36 * (1.0 + 0.1 * m.systole)
    chamber(echo, c, (0.8, 2.2), (artery, artery * (1.0 - 0.1 * press)), 0.1, 0.0)
    # A clotted vein keeps its height on screen; a patent one flattens to a line.
    vein = (
        (0.75, 0.7 * (1.0 + 0.12 * press)) if thrombus else (0.6 + 0.2 * press, 0.55 - 0.52 * press)
    )
    chamber(echo, c, (-0.5, 2.4), vein, 0.08, 0.0)
    if thrombus:  # echogenic clot fills most of the lumen
        paint(echo, ellipse(c, -0.45, 2.45, 0.6, 0.55), 0.35)
    return echo * c.speckle(m)


def aorta(c: Canvas, m: Moment, spec: CineSpec) -> Arr:
    echo = body_wall(c, 0.3)
    paint(echo, band(c.z, 2.0, 0.5), 0.5)  # rectus muscle
    spine_top = 11.0
    radius = spec.aorta_diameter_cm / 2 * (1.0 + 0.06 * m.systole)
    cz = spine_top - 0.4 - radius
    paint(echo, ellipse(c, 0.0, spine_top + 1.0, 2.4, 1.0), BRIGHT)  # vertebral body
    echo *= 1.0 - 0.9 * soft(c.z - spine_top - 1.0, 0.3) * band(c.x, 0.0, 2.4)
    ivc_b = 0.6 * (1.0 - 0.5 * m.inspiration)
    paint(echo, ellipse(c, -2.4 - radius / 2, cz + 0.4, 1.2, ivc_b), BLOOD)
    chamber(echo, c, (0.8, cz), (radius, radius), 0.2, 0.0)
    paint(echo, ellipse(c, 0.8, cz - radius - 1.2, 0.55, 0.55), 0.9)  # SMA in its fat collar
    paint(echo, ellipse(c, 0.8, cz - radius - 1.2, 0.3, 0.3), BLOOD)
    if spec.aorta_diameter_cm > 4.0:  # mural thrombus lines a large aneurysm
        paint(echo, ellipse(c, 0.8, cz + 0.35 * radius, 0.95 * radius, 0.55 * radius), 0.3)
    if spec.dissection_flap:
        swing = 0.25 * radius * (m.systole - 0.5)
        flap = capsule(c, (0.8 - radius, cz + swing), (0.8 + radius, cz - swing), 0.07)
        paint(echo, flap, BRIGHT)
    return echo * c.speckle(m)


@dataclass(frozen=True)
class Scene:
    draw: Callable[[Canvas, Moment, CineSpec], Arr]
    probe: Probe
    label: str  # series description
    body_part: str  # BodyPartExamined


SCENES: dict[str, Scene] = {
    "cardiac_plax": Scene(plax, PHASED, "Heart PLAX", "HEART"),
    "cardiac_a4c": Scene(a4c, PHASED, "Heart A4C", "HEART"),
    "cardiac_psax": Scene(psax, PHASED, "Heart PSAX mid-papillary", "HEART"),
    "cardiac_subcostal": Scene(subcostal, DEEP, "Heart SC4C", "HEART"),
    "ivc": Scene(ivc, DEEP, "IVC long axis", "ABDOMEN"),
    "lung_a_lines": Scene(lung, LUNG, "Lung upper BLUE point", "CHEST"),
    "lung_b_lines": Scene(lung, LUNG, "Lung lower BLUE point", "CHEST"),
    "lung_consolidation": Scene(lung, LUNG, "Lung PLAPS point", "CHEST"),
    "pleural_effusion": Scene(pleural_effusion, CURVED, "Right lung base", "CHEST"),
    "fast_ruq": Scene(fast_ruq, CURVED, "FAST RUQ", "ABDOMEN"),
    "fast_ruq_fluid": Scene(fast_ruq, CURVED, "FAST RUQ", "ABDOMEN"),
    "pericardial_effusion": Scene(subcostal, DEEP, "FAST cardiac", "HEART"),
    "dvt_compressible": Scene(dvt, LINEAR, "Right CFV compression", "LEG"),
    "dvt_thrombus": Scene(dvt, LINEAR, "Right CFV compression", "LEG"),
    "aorta": Scene(aorta, CURVED, "Abdominal aorta transverse", "ABDOMEN"),
}
