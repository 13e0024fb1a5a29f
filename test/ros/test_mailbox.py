"""LatestFrameMailbox: newest item wins, replaced items are counted, close wakes the taker."""
import threading

from hypothesis import given
from hypothesis import strategies as st

from depthmaster_ros.ros import LatestFrameMailbox


def test_take_returns_the_newest_and_counts_replaced_as_dropped():
    box = LatestFrameMailbox()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.put(3) is True
    assert box.take(timeout=0) == 3
    assert box.counters() == {'received': 3, 'dropped': 2, 'processed': 1}
    assert box.take(timeout=0) is None


def test_take_times_out_empty():
    assert LatestFrameMailbox().take(timeout=0.01) is None


def test_close_wakes_a_waiting_taker():
    box = LatestFrameMailbox()
    result = []
    taker = threading.Thread(target=lambda: result.append(box.take()))
    taker.start()
    box.close()
    taker.join(5)
    assert not taker.is_alive() and result == [None]
    box.put('late')
    assert box.take(timeout=0) is None


def test_a_waiting_taker_receives_a_put_from_another_thread():
    box = LatestFrameMailbox()
    result = []
    taker = threading.Thread(target=lambda: result.append(box.take(timeout=5)))
    taker.start()
    box.put('frame')
    taker.join(5)
    assert result == ['frame']


@given(st.lists(st.sampled_from(['put', 'take']), max_size=60))
def test_counters_balance(operations):
    box = LatestFrameMailbox()
    pending = False
    for index, operation in enumerate(operations):
        if operation == 'put':
            box.put(index)
            pending = True
        else:
            taken = box.take(timeout=0)
            assert (taken is not None) == pending
            pending = False
    counters = box.counters()
    assert counters['received'] == counters['dropped'] + counters['processed'] + int(pending)


def test_concurrent_producers_lose_nothing_uncounted():
    box = LatestFrameMailbox()
    taken = []
    stop = threading.Event()

    def consume():
        while not stop.is_set():
            item = box.take(timeout=0.01)
            if item is not None:
                taken.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=lambda: [box.put(i) for i in range(500)]) for _ in range(3)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    stop.set()
    consumer.join(5)
    box.take(timeout=0)          # the last put may still be pending
    counters = box.counters()
    assert counters['received'] == 1500
    assert counters['processed'] + counters['dropped'] == 1500
