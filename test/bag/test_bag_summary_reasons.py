"""The bag summary says why frames had no metres next to `alignment ok N%`: the most frequent reasons
of the frames whose alignment was not ok, counted, in the printed summary and the --summary file."""
from depthmaster_ros.bag import BagOptions, format_summary, process_bag


def test_alignment_ok_comes_with_the_reasons_of_the_frames_without_metres(sample_bag_file, tmp_path, tiny_estimator,
                                                                         bag_config):
    # lidar mode with the clouds ignored: no frame can get metres, and each says why
    summary = process_bag(sample_bag_file, tmp_path / 'out.mcap', tiny_estimator, bag_config,
                          BagOptions(progress=False, use_points=False))
    frames = summary.frames.out
    assert frames > 0 and summary.alignment.ok_ratio == 0.0
    reasons = summary.alignment.not_ok_reasons
    assert sum(info.count for info in reasons.values()) == frames
    printed = format_summary(summary)
    assert 'alignment ok 0%' in printed
    top = next(iter(reasons.values()))
    assert f'  not ok {top.count} x: {top.last_message}' in printed and top.last_message
    as_json = summary.as_json()['alignment']['not_ok_reasons']
    assert sum(info['count'] for info in as_json.values()) == frames
