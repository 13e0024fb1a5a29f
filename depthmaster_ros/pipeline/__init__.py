"""One camera frame end to end without ROS, shared by the node and the bag tool."""
from . import faults
from .assembly import (
           ConvertedImage,
           FrameAssembly,
           camera_for_image,
           cloud_from_message,
           image_to_model_rgb,
           store_cloud,
)
from .camera_batch import process_camera_batch
from .camera_sync import CAMERA_INFO_MISSING, CAMERA_INFO_UNMATCHED, CAMERA_INFO_WAIT, CameraInfoSync, Paired
from .cloud_pairing import RecentClouds, describe_miss, select_cloud
from .depth_pipeline import DepthPipeline, next_lower_resolution
from .errors import PipelineError
from .estimator_loading import load_configured_estimator, resolve_runtime
from .faults import FAULT_KINDS, FaultCounters
from .frame_maps import DeviceMaps, HostMaps
from .frames import NAVIGATION_FRAME, STAMP_ORDER, STAMP_ZERO, FrameInput, FrameOutput
from .navigation import NavigationOutput, is_ring, merged_scan, navigation_output
from .outputs import OUTPUT_TOPICS, depth_to_millimetres, frame_messages
from .pipelined import FrameJob, FrameResults, PipelinedFrames

__all__ = ['CAMERA_INFO_MISSING', 'CAMERA_INFO_UNMATCHED', 'CAMERA_INFO_WAIT', 'CameraInfoSync', 'ConvertedImage',
           'DepthPipeline', 'DeviceMaps', 'FAULT_KINDS', 'FaultCounters', 'FrameAssembly', 'FrameInput', 'FrameJob',
           'FrameOutput', 'FrameResults', 'HostMaps', 'NAVIGATION_FRAME', 'NavigationOutput', 'OUTPUT_TOPICS',
           'Paired', 'PipelineError', 'PipelinedFrames', 'RecentClouds', 'STAMP_ORDER', 'STAMP_ZERO',
           'camera_for_image', 'cloud_from_message', 'depth_to_millimetres', 'describe_miss', 'faults',
           'frame_messages', 'image_to_model_rgb', 'is_ring', 'load_configured_estimator', 'merged_scan',
           'navigation_output', 'next_lower_resolution', 'process_camera_batch', 'resolve_runtime', 'select_cloud',
           'store_cloud']
