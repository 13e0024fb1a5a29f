"""Hostile files to the offline tools: every bag of a generated corpus is refused with an error naming the bag,
the topic and the record, within bounded memory, with nothing written at the final output path; `batch` marks
each one failed and goes on to the good bag. The corpus and the child process are in fixtures_hostile_bags.py."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

import fixtures_hostile_bags
from fixtures_hostile_bags import KINDS, write_corpus

ADDRESS_SPACE = 4 * 2**30       # the child's RLIMIT_AS: an unbounded reader of any bomb here would fail
PEAK_RSS_MB = 2048


@pytest.fixture(scope='module')
def corpus_run(tmp_path_factory, tiny_model_dir):
    directory = tmp_path_factory.mktemp('hostile')
    entries = write_corpus(directory)
    results = directory / 'results.json'
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), str(root / 'test')])}
    subprocess.run([sys.executable, fixtures_hostile_bags.__file__, str(directory / 'corpus'),
                    str(directory / '_base.mcap'), str(tiny_model_dir), str(results), str(ADDRESS_SPACE)],
                   check=True, env=env, timeout=1200, capture_output=True)
    return entries, json.loads(results.read_text()), directory


def test_the_corpus_has_every_kind_and_at_least_50_bags(corpus_run):
    entries, _, _ = corpus_run
    assert len(entries) >= 50
    assert {entry.kind for entry in entries} == set(KINDS)
    assert all(sum(entry.kind == kind for entry in entries) >= 5 for kind in KINDS)


def test_every_hostile_bag_is_refused_naming_the_bag_topic_and_record(corpus_run):
    entries, results, directory = corpus_run
    for entry in entries:
        outcome = results['bags'][entry.name]
        error = outcome['error'] or ''
        assert error.startswith('BagRefused: IN '), (entry.name, error)
        assert str(directory / 'corpus' / entry.name) in error, (entry.name, error)
        if entry.topic is not None:
            assert f'topic {entry.topic}' in error, (entry.name, error)
            assert 'record logged at' in error or 'embedded message definition' in error, (entry.name, error)
        else:
            assert any(word in error for word in ('chunk', 'record', 'index')), (entry.name, error)
        assert not outcome['output_exists'] and outcome['leftovers'] == [], entry.name


def test_memory_stays_bounded(corpus_run):
    assert corpus_run[1]['peak_rss_mb'] <= PEAK_RSS_MB


def test_batch_records_each_hostile_bag_as_failed_and_goes_on(corpus_run):
    entries, results, _ = corpus_run
    batch = results['batch']
    good = batch.pop('_base.mcap')
    assert good['status'] == 'done'
    assert len(batch) == len(entries)
    assert all(record['status'] == 'failed' and record['reason'].startswith('BagRefused') for record in batch.values())
    assert results['batch_outputs'] == ['_base.mcap']         # only the good bag's output
