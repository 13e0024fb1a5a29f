"""Input faults are a state while they happen and history afterwards."""
from depthmaster_ros.pipeline import FaultCounters
from depthmaster_ros.ros import FAULT_WARN_S, OK, WARN, NodeHealth, inputs_status


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def snapshot(health, faults):
    return health.snapshot({}, faults.counts(), faults.last_messages(), faults.recent(FAULT_WARN_S))


def test_recent_lists_only_kinds_seen_within_the_window():
    clock = Clock()
    faults = FaultCounters(clock=clock)
    faults.record('image', 'bad step')
    clock.now += 3.0
    faults.record('points', 'no x field')
    assert faults.recent(5.0) == {'image', 'points'}
    clock.now += 4.0
    assert faults.recent(5.0) == {'points'}
    assert faults.counts() == {'image': 1, 'points': 1}


def test_inputs_warn_while_faults_are_recent_then_return_to_ok_keeping_the_totals():
    clock = Clock()
    faults, health = FaultCounters(clock=clock), NodeHealth({'device': 'cpu'}, clock=clock)
    assert inputs_status(snapshot(health, faults))[0] == OK
    faults.record('image', 'Image.step (10) is smaller than width*bytes_per_pixel (12)')
    level, message, values = inputs_status(snapshot(health, faults))
    assert level == WARN and 'image' in message and 'Image.step' in message
    clock.now += FAULT_WARN_S + 1.0
    level, message, values = inputs_status(snapshot(health, faults))
    assert level == OK and '1 since start' in message
    assert ('image', 1) in values
