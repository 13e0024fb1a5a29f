"""Session-wide test isolation: a random DDS domain, localhost-only discovery, no hub access."""
import os
import random

# Set before anything imports rclpy or huggingface_hub: both read these at start-up.
os.environ['ROS_DOMAIN_ID'] = os.environ.get('DEPTHMASTER_TEST_DOMAIN_ID') or str(random.SystemRandom().randint(1, 100))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

# Fixture modules, one per area, so each area owns its own file. Test modules import plain helpers from
# them (`from fixtures_bag import read_bag`), never from each other. fixtures_estimators holds no fixtures
# and imports torch, so it is imported only by the tests that use its estimators, not loaded here.
# A module that imports another fixtures module comes after it, so pytest rewrites the asserts of both.
pytest_plugins = ['fixtures_ros', 'fixtures_model', 'fixtures_scene', 'fixtures_pipeline', 'fixtures_node',
                  'fixtures_process', 'fixtures_bag']
