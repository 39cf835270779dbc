"""Mesh rasterisers: pyrender offscreen (EGL / OSMesa) and a pure numpy z-buffer fallback.

Both take meshes already placed in the camera frame (OpenCV axes: x right, y down, z forward) and a
`FrameCamera`, and return a `MeshLayer` (colour, coverage, which mesh owns each pixel, depth) that
`render.py` composites over the video frame.

PyOpenGL picks its platform once, when `OpenGL` is first imported, from `PYOPENGL_PLATFORM`. So the
platform is chosen here from an explicit argument (from Settings), written before anything imports
OpenGL, and each candidate is first tried in a child process: a broken driver that crashes or
hangs must not take the app down. When no OpenGL platform works, `create_mesh_renderer` says why and
returns the numpy renderer, so a video is still produced.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from lart_demo.errors import ModelError
from lart_demo.render.camera import FrameCamera, project

log = logging.getLogger(__name__)

BACKENDS = ("auto", "egl", "osmesa", "cpu")
GL_PLATFORMS = ("egl", "osmesa")
_PROBE_TIMEOUT_S = 60.0


@dataclass
class MeshInstance:
    """One mesh to draw: vertices in the camera frame (OpenCV axes) and its RGB colour."""

    vertices: np.ndarray  # (V, 3) float
    color: tuple[int, int, int]


@dataclass
class MeshLayer:
    """What the rasteriser produced for one frame."""

    color: np.ndarray  # (H, W, 3) float32 in [0, 1], shaded mesh colour (undefined where alpha == 0)
    alpha: np.ndarray  # (H, W) float32 in [0, 1], coverage (fractional on anti-aliased edges)
    owner: np.ndarray | None = None  # (H, W) int32 index into the mesh list, -1 = background
    depth: np.ndarray | None = None  # (H, W) float32 camera-frame z, 0 = background


class MeshRenderer(Protocol):
    name: str

    def render(
        self, meshes: Sequence[MeshInstance], faces: np.ndarray, camera: FrameCamera, need_owner: bool = False
    ) -> MeshLayer: ...

    def close(self) -> None: ...


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a triangle mesh."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area: area weighting
    normals = np.zeros_like(vertices)
    flat = faces.reshape(-1)
    for axis in range(3):
        normals[:, axis] = np.bincount(flat, weights=np.repeat(face_n[:, axis], 3), minlength=len(vertices))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(norm, 1e-12)


def _depth_range(meshes: Sequence[MeshInstance]) -> tuple[float, float]:
    z = np.concatenate([m.vertices[:, 2] for m in meshes])
    z = z[z > 0]
    if z.size == 0:
        return 0.05, 1000.0
    return max(1e-3, 0.5 * float(z.min())), max(1000.0, 2.0 * float(z.max()))


# ----------------------------------------------------------------------------------------------------
# CPU fallback: vectorised z-buffer in numpy
# ----------------------------------------------------------------------------------------------------


class NumpyMeshRenderer:
    """Flat-shaded triangle z-buffer in numpy: no OpenGL, no anti-aliasing; always available.

    Pixel (i, j) is covered when its centre (i + 0.5, j + 0.5) lies inside a projected triangle, the
    sampling rule OpenGL uses, so silhouettes agree with pyrender's up to edge anti-aliasing.
    """

    name = "cpu"
    _CHUNK = 4_000_000  # candidate pixels per vectorised batch: bounds memory at any resolution

    def render(
        self, meshes: Sequence[MeshInstance], faces: np.ndarray, camera: FrameCamera, need_owner: bool = False
    ) -> MeshLayer:
        h, w = camera.height, camera.width
        depth = np.full(h * w, np.inf, dtype=np.float64)
        face_of_pixel = np.full(h * w, -1, dtype=np.int64)
        faces = np.asarray(faces, dtype=np.int64)
        all_xy, all_z, shade, colors, owner_of_face = [], [], [], [], []
        near, _ = _depth_range(meshes) if meshes else (0.05, 1000.0)
        for k, mesh in enumerate(meshes):
            v = np.asarray(mesh.vertices, dtype=np.float64)
            tri = v[faces]  # (F, 3, 3)
            all_xy.append(project(v, camera)[faces])
            all_z.append(tri[..., 2])
            # headlight Lambert shading on face normals, two-sided like pyrender's default
            n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            view = tri.mean(axis=1)
            cos = np.abs((n * view).sum(1)) / np.maximum(
                np.linalg.norm(n, axis=1) * np.linalg.norm(view, axis=1), 1e-12
            )
            shade.append(0.3 + 0.7 * cos)
            colors.append(np.broadcast_to(np.asarray(mesh.color, np.float64) / 255.0, (len(faces), 3)))
            owner_of_face.append(np.full(len(faces), k, dtype=np.int32))
        if meshes:
            xy = np.concatenate(all_xy)
            z = np.concatenate(all_z)
            self._rasterize(xy, z, near, w, h, depth, face_of_pixel)
        covered = face_of_pixel >= 0
        color = np.zeros((h * w, 3), dtype=np.float32)
        owner = np.full(h * w, -1, dtype=np.int32)
        if covered.any():
            fidx = face_of_pixel[covered]
            color[covered] = (np.concatenate(colors)[fidx] * np.concatenate(shade)[fidx, None]).astype(np.float32)
            owner[covered] = np.concatenate(owner_of_face)[fidx]
        depth_img = np.where(covered, depth, 0.0).astype(np.float32)
        return MeshLayer(
            color=color.reshape(h, w, 3),
            alpha=covered.reshape(h, w).astype(np.float32),
            owner=owner.reshape(h, w),
            depth=depth_img.reshape(h, w),
        )

    def _rasterize(
        self,
        xy: np.ndarray,
        z: np.ndarray,
        near: float,
        w: int,
        h: int,
        depth: np.ndarray,
        face_of_pixel: np.ndarray,
    ) -> None:
        # pixel columns whose centre can fall inside each triangle's bounding box
        lo = np.ceil(xy.min(axis=1) - 0.5)
        hi = np.floor(xy.max(axis=1) - 0.5)
        x0 = np.clip(lo[:, 0], 0, w - 1).astype(np.int64)
        y0 = np.clip(lo[:, 1], 0, h - 1).astype(np.int64)
        x1 = np.clip(hi[:, 0], -1, w - 1).astype(np.int64)
        y1 = np.clip(hi[:, 1], -1, h - 1).astype(np.int64)
        area2 = (xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1]) - (xy[:, 2, 0] - xy[:, 0, 0]) * (
            xy[:, 1, 1] - xy[:, 0, 1]
        )
        visible = (x1 >= x0) & (y1 >= y0) & (z.min(axis=1) > near) & (np.abs(area2) > 1e-12)
        visible &= (lo[:, 0] <= w - 1) & (lo[:, 1] <= h - 1) & (hi[:, 0] >= 0) & (hi[:, 1] >= 0)
        ids = np.nonzero(visible)[0]
        if ids.size == 0:
            return
        # Edge functions and 1/z are affine in screen space: precompute per triangle, relative to the
        # centre of its bounding box's first pixel, so the per-pixel work is small float32 arithmetic.
        origin = np.stack([x0[ids] + 0.5, y0[ids] + 0.5], axis=1)[:, None, :]
        t = xy[ids] - origin  # (n, 3, 2) local coordinates
        inv_area = 1.0 / area2[ids]
        coef = np.empty((ids.size, 3, 3))  # [weight 0/1/2][A, B, C]: w = A*ox + B*oy + C
        for i in range(2):
            p, q = t[:, (i + 1) % 3], t[:, (i + 2) % 3]
            coef[:, i, 0] = (p[:, 1] - q[:, 1]) * inv_area
            coef[:, i, 1] = (q[:, 0] - p[:, 0]) * inv_area
            coef[:, i, 2] = (p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]) * inv_area
        coef[:, 2, :2] = -coef[:, 0, :2] - coef[:, 1, :2]
        coef[:, 2, 2] = 1.0 - coef[:, 0, 2] - coef[:, 1, 2]
        inv_z = (coef / z[ids][:, :, None]).sum(axis=1)  # (n, 3): 1/z = A*ox + B*oy + C
        # bucket triangles by power-of-two bounding-box width and height: small dense grids per batch
        kx = 1 << np.ceil(np.log2(x1[ids] - x0[ids] + 1)).astype(np.int64)
        ky = 1 << np.ceil(np.log2(y1[ids] - y0[ids] + 1)).astype(np.int64)
        key = kx * (1 << 20) + ky
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        for group in np.split(order, bounds):
            gx, gy = int(kx[group[0]]), int(ky[group[0]])
            self._raster_group(group, gx, gy, ids, coef, inv_z, x0, y0, x1, y1, w, depth, face_of_pixel)

    def _raster_group(self, group, gx, gy, ids, coef, inv_z, x0, y0, x1, y1, w, depth, face_of_pixel) -> None:
        oy, ox = np.divmod(np.arange(gx * gy), gx)
        oxf, oyf = ox.astype(np.float32), oy.astype(np.float32)
        per_batch = max(1, self._CHUNK // (gx * gy))
        for start in range(0, group.size, per_batch):
            g = group[start : start + per_batch]
            f = ids[g]
            c = coef[g].astype(np.float32)
            hit = (ox[None, :] <= (x1[f] - x0[f])[:, None]) & (oy[None, :] <= (y1[f] - y0[f])[:, None])
            for i in range(3):
                hit &= c[:, i, 0, None] * oxf[None, :] + c[:, i, 1, None] * oyf[None, :] + c[:, i, 2, None] >= 0
            rows, cols = np.nonzero(hit)
            if rows.size == 0:
                continue
            lz = inv_z[g[rows]]
            pz = 1.0 / (lz[:, 0] * ox[cols] + lz[:, 1] * oy[cols] + lz[:, 2])
            pix = (y0[f[rows]] + oy[cols]) * w + x0[f[rows]] + ox[cols]
            np.minimum.at(depth, pix, pz)
            won = pz <= depth[pix]
            face_of_pixel[pix[won]] = f[rows[won]]

    def close(self) -> None:
        """Nothing to release."""


# ----------------------------------------------------------------------------------------------------
# pyrender offscreen (EGL on a GPU or Mesa llvmpipe, OSMesa on CPU)
# ----------------------------------------------------------------------------------------------------


def loaded_gl_platform() -> str | None:
    """The platform PyOpenGL already loaded in this process ('egl', 'osmesa', 'glx', ...), or None."""
    platform_module = sys.modules.get("OpenGL.platform")
    if platform_module is None or getattr(platform_module, "PLATFORM", None) is None:
        return None
    name = type(platform_module.PLATFORM).__name__.lower()  # e.g. EGLPlatform, OSMesaPlatform, GLXPlatform
    for known in ("osmesa", "egl", "glx", "darwin", "win32"):
        if known in name:
            return known
    return name


def configure_gl_platform(platform: str) -> None:
    """Select the PyOpenGL platform for this process; must run before OpenGL is first imported."""
    import os  # local: this module writes the variable PyOpenGL reads, it never reads settings from the env

    if platform not in GL_PLATFORMS:
        raise ModelError(f"Unknown OpenGL platform {platform!r}; use one of {', '.join(GL_PLATFORMS)}.")
    current = loaded_gl_platform()
    if current is not None and current != platform:
        raise ModelError(
            f"OpenGL was already initialised with the {current!r} platform in this process, so {platform!r} "
            "cannot be used; choose the render backend before anything imports OpenGL."
        )
    os.environ["PYOPENGL_PLATFORM"] = platform


# One OffscreenRenderer per process, shared by every PyrenderMeshRenderer: deleting a pyrender EGL
# renderer terminates the process-wide EGL display and breaks every other renderer, and GL contexts
# are not safe to drive from two threads at once (Gradio serves requests on worker threads).
_OFFSCREEN: dict[str, object] = {}
_GL_LOCK = threading.Lock()


def _shared_offscreen(platform: str, width: int, height: int):  # noqa: ANN202  (a pyrender.OffscreenRenderer)
    import pyrender

    renderer = _OFFSCREEN.get(platform)
    if renderer is None:
        renderer = _OFFSCREEN[platform] = pyrender.OffscreenRenderer(width, height)
        _release_context(renderer)
    elif (renderer.viewport_width, renderer.viewport_height) != (width, height):
        renderer.viewport_width, renderer.viewport_height = width, height
    return renderer


def _release_context(renderer) -> None:  # noqa: ANN001  (a pyrender.OffscreenRenderer)
    """Unbind the shared EGL context from this thread (pyrender never does), so that the next render may come
    from another thread: Gradio runs each analysis on a new worker thread, and an EGL context still current
    on a finished thread makes every later eglMakeCurrent fail with EGL_BAD_ACCESS."""
    platform = getattr(renderer, "_platform", None)
    if type(platform).__name__ != "EGLPlatform":
        return
    from OpenGL.EGL import EGL_NO_CONTEXT, EGL_NO_SURFACE, eglMakeCurrent

    eglMakeCurrent(platform._egl_display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT)


@dataclass
class PyrenderMeshRenderer:
    """pyrender offscreen rendering with PHALP-like lighting (ambient 0.3, a ring of white lights)."""

    platform: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"pyrender-{self.platform}"
        configure_gl_platform(self.platform)
        import pyrender  # noqa: F401  (imported after the platform is set; fails here if GL is unusable)

    def close(self) -> None:
        """Nothing per instance: the offscreen context is shared and lives as long as the process."""

    def render(
        self, meshes: Sequence[MeshInstance], faces: np.ndarray, camera: FrameCamera, need_owner: bool = False
    ) -> MeshLayer:
        import pyrender

        h, w = camera.height, camera.width
        if not meshes:
            return MeshLayer(
                color=np.zeros((h, w, 3), np.float32),
                alpha=np.zeros((h, w), np.float32),
                owner=np.full((h, w), -1, np.int32),
                depth=np.zeros((h, w), np.float32),
            )
        faces = np.asarray(faces, dtype=np.uint32)
        scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=(0.3, 0.3, 0.3))
        gl_from_cv = np.array([1.0, -1.0, -1.0])  # 180 degrees about x: OpenCV camera -> OpenGL camera
        nodes = []
        for mesh in meshes:
            v = (np.asarray(mesh.vertices, np.float64) * gl_from_cv).astype(np.float32)
            material = pyrender.MetallicRoughnessMaterial(
                metallicFactor=0.0,
                roughnessFactor=0.7,
                alphaMode="OPAQUE",
                doubleSided=True,  # like the numpy renderer: never lose a face to its winding order
                baseColorFactor=(*(c / 255.0 for c in mesh.color), 1.0),
            )
            primitive = pyrender.Primitive(
                positions=v, normals=vertex_normals(v, faces.astype(np.int64)), indices=faces, material=material
            )
            nodes.append(scene.add(pyrender.Mesh([primitive])))
        znear, zfar = _depth_range(meshes)
        cam = pyrender.IntrinsicsCamera(
            fx=camera.focal, fy=camera.focal, cx=camera.cx, cy=camera.cy, znear=znear, zfar=zfar
        )
        scene.add(cam, pose=np.eye(4))
        for pose in _light_poses():
            scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.0), pose=pose)
        with _GL_LOCK:
            renderer = _shared_offscreen(self.platform, w, h)
            try:
                return self._render_locked(renderer, scene, nodes, cam, faces, need_owner)
            finally:
                _release_context(renderer)

    def _render_locked(self, renderer, scene, nodes, cam, faces: np.ndarray, need_owner: bool) -> MeshLayer:  # noqa: ANN001
        import pyrender

        if self.platform == "egl":
            rgba, depth = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
            color = rgba[..., :3].astype(np.float32) / 255.0
            alpha = rgba[..., 3].astype(np.float32) / 255.0
        else:
            # without framebuffer objects (OSMesa) pyrender reads RGB only: coverage comes from depth
            rgb, depth = renderer.render(scene)
            color = rgb.astype(np.float32) / 255.0
            alpha = (depth > 0).astype(np.float32)
        owner = None
        if need_owner:
            # pyrender's SEG pass always culls back faces (it ignores doubleSided): give it both windings
            both_sides = np.concatenate([faces, faces[:, ::-1]])
            seg_scene = pyrender.Scene()
            seg_map = {}
            for k, node in enumerate(nodes):
                positions = node.mesh.primitives[0].positions
                seg_node = seg_scene.add(pyrender.Mesh([pyrender.Primitive(positions=positions, indices=both_sides)]))
                seg_map[seg_node] = (k + 1, 0, 0)
            seg_scene.add(cam, pose=np.eye(4))
            seg, _ = renderer.render(seg_scene, flags=pyrender.RenderFlags.SEG, seg_node_map=seg_map)
            owner = seg[..., 0].astype(np.int32) - 1
        return MeshLayer(color=color, alpha=alpha, owner=owner, depth=depth.astype(np.float32))


def _light_poses() -> list[np.ndarray]:
    """A light at the camera plus five tilted around it (the layout PHALP's renderer uses)."""
    poses = [np.eye(4)]
    tilt = -math.pi / 3
    rx = np.array([[1, 0, 0], [0, math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), math.cos(tilt)]])
    for i in range(5):
        a = 2 * math.pi * i / 5
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        pose = np.eye(4)
        pose[:3, :3] = ry @ rx
        poses.append(pose)
    return poses


# ----------------------------------------------------------------------------------------------------
# choosing a backend: child-process probe, in-process self-check, fallback
# ----------------------------------------------------------------------------------------------------


@dataclass
class RendererChoice:
    renderer: MeshRenderer
    notice: str  # what was chosen and, after a fallback, why; shown in logs and the UI
    fell_back: bool = False  # True when OpenGL was wanted but unusable


def probe_gl_platform(platform: str, timeout_s: float = _PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Try `platform` in a child process (a crashing driver cannot kill us); (ok, detail)."""
    cmd = [sys.executable, "-m", "lart_demo.render.backends", "--probe", platform]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return False, f"the {platform} self-check did not finish within {timeout_s:.0f} s"
    if done.returncode == 0:
        return True, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else platform
    last = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
    return False, last


def self_check(renderer: MeshRenderer) -> None:
    """Render a known triangle and check that its pixels land where the camera maths says; raise if not."""

    camera = FrameCamera(width=64, height=48, focal=100.0, cx=32.0, cy=24.0)
    tri = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, 2.0]])
    layer = renderer.render([MeshInstance(tri, (200, 50, 50))], np.array([[0, 1, 2]]), camera)
    mask = layer.alpha > 0.5
    expected = NumpyMeshRenderer().render([MeshInstance(tri, (200, 50, 50))], np.array([[0, 1, 2]]), camera)
    ref = expected.alpha > 0.5
    union = np.logical_or(mask, ref).sum()
    iou = np.logical_and(mask, ref).sum() / max(union, 1)
    if iou < 0.8:
        raise ModelError(f"the {renderer.name} renderer drew a test triangle in the wrong place (IoU {iou:.2f}).")


_FAILED_PLATFORMS: dict[str, str] = {}  # platform -> why its self-check failed in this process


def _short(reason: str, limit: int = 100) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else reason
    return first if len(first) <= limit else first[: limit - 1] + "…"


def create_mesh_renderer(backend: str = "auto", device: str = "cpu") -> RendererChoice:
    """The best working mesh renderer for `backend` ('auto' | 'egl' | 'osmesa' | 'cpu').

    'auto' tries EGL (GPU, or Mesa's llvmpipe on CPU), then OSMesa. If OpenGL is unusable the numpy
    renderer is returned with a notice that says what failed and which system packages fix it.
    """
    if backend not in BACKENDS:
        raise ModelError(f"Unknown render backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "cpu":
        return RendererChoice(NumpyMeshRenderer(), "Rendering meshes with the numpy renderer (no OpenGL).")
    already = loaded_gl_platform()
    if already is not None:
        candidates = [already] if already in GL_PLATFORMS else []
    else:
        candidates = list(GL_PLATFORMS) if backend == "auto" else [backend]
    failures = []
    for platform in candidates:
        if platform in _FAILED_PLATFORMS:  # probing again would only repeat the same failure, slowly
            failures.append(f"{platform}: {_FAILED_PLATFORMS[platform]}")
            continue
        if already is None:
            ok, detail = probe_gl_platform(platform)
            if not ok:
                _FAILED_PLATFORMS[platform] = detail
                failures.append(f"{platform}: {detail}")
                continue
        try:
            renderer = PyrenderMeshRenderer(platform)
            self_check(renderer)
        except Exception as exc:  # any GL failure means "use the fallback"; the notice says why
            _FAILED_PLATFORMS[platform] = f"{type(exc).__name__}: {exc}"
            failures.append(f"{platform}: {type(exc).__name__}: {exc}")
            log.debug("pyrender %s failed its self-check", platform, exc_info=True)
            continue
        return RendererChoice(renderer, f"Rendering meshes with pyrender on {platform} ({device}).")
    if already is not None and already not in GL_PLATFORMS:
        failures.append(f"OpenGL was already loaded with the unsupported {already!r} platform")
    # the user sees a short reason per platform; the full error text goes to the log
    reasons = "; ".join(_short(f) for f in failures)
    notice = (
        f"3D meshes were drawn with the slower built-in renderer because OpenGL is not available here ({reasons}). "
        "Install libegl1 libegl-mesa0 libgl1 (EGL) or libosmesa6 (OSMesa) for smoother meshes."
    )
    log.warning("OpenGL rendering is unavailable (%s); using the numpy renderer", "; ".join(failures))
    return RendererChoice(NumpyMeshRenderer(), notice, fell_back=True)


def _probe_main(platform: str) -> None:
    renderer = PyrenderMeshRenderer(platform)
    self_check(renderer)
    from OpenGL import GL

    _shared_offscreen(platform, 64, 48)._platform.make_current()  # the probe only: name the GL implementation
    gl_renderer = GL.glGetString(GL.GL_RENDERER)
    renderer.close()
    print(f"{platform}: {gl_renderer.decode() if isinstance(gl_renderer, bytes) else gl_renderer}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        _probe_main(sys.argv[2])
    else:
        sys.exit("usage: python -m lart_demo.render.backends --probe egl|osmesa")
