"""studio.threads: one thread inside a block, the thread's own setting restored after it."""

from __future__ import annotations

import threading

import pytest
import torch

from studio.threads import one_thread


def test_one_thread_inside_and_restored_after():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_thread():
            raise RuntimeError("a model failed")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_block_on_another_thread_leaves_this_one_alone():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inside, release, seen = threading.Event(), threading.Event(), []

        def request() -> None:
            torch.set_num_threads(2)  # as a worker thread of the server
            with one_thread():
                inside.set()
                release.wait(10)
                seen.append(torch.get_num_threads())
            seen.append(torch.get_num_threads())

        worker = threading.Thread(target=request)
        worker.start()
        assert inside.wait(10)
        assert torch.get_num_threads() == 2  # a batch here keeps its threads meanwhile
        release.set()
        worker.join(10)
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)


def test_all_threads_on_a_thread_started_while_a_request_held_one():
    """A Gradio worker started during a request's block inherits one thread; a batch job there
    (the Benchmark tab's quick run) gets the machine's threads back."""
    from studio.threads import all_threads, machine_threads

    before = torch.get_num_threads()
    seen = []

    def batch_job() -> None:
        seen.append(torch.get_num_threads())
        with all_threads():
            seen.append(torch.get_num_threads())
        seen.append(torch.get_num_threads())

    try:
        with one_thread():
            worker = threading.Thread(target=batch_job)
            worker.start()
            worker.join(10)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, machine_threads(), 1]
