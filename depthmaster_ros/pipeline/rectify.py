"""Depth in rectified (pinhole) geometry, so a depth image and its camera_info alone give the cloud.

depth_image_proc and every consumer of `depth/image` + `depth/camera_info` back-project with the
pinhole model of P and ignore D. For a distorted camera the node therefore remaps its image
outputs to the rectified camera of the camera_info (K' = P[:3, :3], D = 0, R = I) and publishes
that camera, unless `output_geometry` is `raw`.
"""
from typing import Any

import numpy as np

from depthmaster_ros.geometry import CameraModel

_MAPS: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
_MAPS_SIZE = 8


def needs_rectification(camera: CameraModel) -> bool:
    """True when the image geometry is not already the pinhole camera P describes."""
    return (camera.has_distortion or not np.allclose(camera.R, np.eye(3))
            or not np.allclose(camera.P[:, :3], camera.K))


def rectified_camera(camera: CameraModel) -> CameraModel:
    """The pinhole camera of the rectified image: K = P[:3, :3], no distortion, R = I, the same P."""
    return CameraModel(camera.width, camera.height, camera.P[:, :3], np.zeros(0), '', camera.P, np.eye(3))


def _maps(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    key = b''.join((np.array([camera.width, camera.height]).tobytes(), camera.K.tobytes(), camera.D.tobytes(),
                    camera.distortion_model.encode(), camera.P.tobytes(), camera.R.tobytes()))
    maps = _MAPS.get(key)
    if maps is None:
        import cv2
        size, new_k = (camera.width, camera.height), camera.P[:, :3]
        if camera.distortion_model == 'equidistant':
            maps = cv2.fisheye.initUndistortRectifyMap(camera.K, camera.D, camera.R, new_k, size, cv2.CV_32FC1)
        else:
            maps = cv2.initUndistortRectifyMap(camera.K, camera.D, camera.R, new_k, size, cv2.CV_32FC1)
        if len(_MAPS) >= _MAPS_SIZE:
            _MAPS.pop(next(iter(_MAPS)))
        _MAPS[key] = maps
    return maps


def rectify_image(image: np.ndarray, camera: CameraModel, nearest: bool = False) -> np.ndarray:
    """`image` (in camera's raw geometry) seen by the rectified camera; NaN (floats) or 0 outside the raw image.

    nearest: for metric depth, so no depth between a foreground and a background edge is invented.
    """
    import cv2  # OpenCV only where a distorted camera is remapped (the device check runs without it)
    map_x, map_y = _maps(camera)
    floating = np.issubdtype(image.dtype, np.floating)
    border: Any = float('nan') if floating else 0
    return cv2.remap(image, map_x, map_y, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=border)
