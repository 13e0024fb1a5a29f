"""One camera frame end to end without ROS, shared by the node and the bag tool."""
