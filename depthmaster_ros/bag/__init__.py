"""Offline rosbag2 processing with the node's pipeline (the only part besides tests that imports rosbags).

Its names load on first use: a module that needs one helper (the sample bag its output paths, the device
check a scene) does not import rosbags with it.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .errors import BagError, BagFileError, TopicSelectionError

if TYPE_CHECKING:
    from .compression import output_compression
    from .contact_sheet import SheetRow, render_contact_sheet, sheet_layout, write_contact_sheet
    from .frame_reader import AssembledFrame, FrameReading, read_frames
    from .messages import ALIGNMENT_TYPE, typestore
    from .options import BagOptions
    from .refusal import BagRefused
    from .replay import process_bag
    from .run_inputs import count_frames
    from .summary import BagSummary, build_summary, format_summary
    from .topics import InputBag, TopicEntry, image_namespace, select_ring_topics, select_topics
    from .writing import (
        SINGLE_FILE_SUFFIXES,
        OutputLocation,
        open_writer,
        output_storage,
        qos_profile,
        remove_path,
        tf_static_offered_qos,
    )

__getattr__ = lazy_attributes(__name__, {
    'refusal': ('BagRefused',),
    'compression': ('output_compression',),
    'contact_sheet': ('SheetRow', 'render_contact_sheet', 'sheet_layout', 'write_contact_sheet'),
    'frame_reader': ('AssembledFrame', 'FrameReading', 'read_frames'),
    'messages': ('ALIGNMENT_TYPE', 'typestore'),
    'options': ('BagOptions',),
    'replay': ('process_bag',),
    'run_inputs': ('count_frames',),
    'summary': ('BagSummary', 'build_summary', 'format_summary'),
    'topics': ('InputBag', 'TopicEntry', 'image_namespace', 'select_ring_topics', 'select_topics'),
    'writing': ('SINGLE_FILE_SUFFIXES', 'OutputLocation', 'open_writer', 'output_storage', 'qos_profile', 'remove_path',
                'tf_static_offered_qos'),
})

__all__ = ['ALIGNMENT_TYPE', 'AssembledFrame', 'BagError', 'BagFileError', 'BagOptions', 'BagRefused', 'BagSummary',
           'FrameReading', 'InputBag', 'OutputLocation', 'SINGLE_FILE_SUFFIXES', 'SheetRow', 'TopicEntry',
           'TopicSelectionError', 'build_summary', 'count_frames', 'format_summary', 'image_namespace', 'messages',
           'open_writer', 'output_compression', 'output_storage', 'process_bag', 'qos_profile', 'read_frames',
           'remove_path', 'render_contact_sheet', 'select_ring_topics', 'select_topics', 'sheet_layout',
           'tf_static_offered_qos', 'typestore', 'write_contact_sheet']
