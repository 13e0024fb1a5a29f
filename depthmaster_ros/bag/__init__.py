"""Offline rosbag2 processing with the node's pipeline (the only part besides tests that imports rosbags)."""
