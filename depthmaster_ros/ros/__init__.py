"""The thin rclpy adapter over the ROS-free core: the only subpackage that imports rclpy."""
