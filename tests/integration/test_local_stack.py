"""Starting the local stack is idempotent: a second `start` while it runs starts nothing new."""

from __future__ import annotations

from infra import stack as local_stack


def test_starting_a_running_stack_again_keeps_the_same_servers(stack, capsys):
    before = local_stack.status(stack)
    assert all(s.running and s.ready for s in before.values())
    argv = [
        "start", "--data-dir", str(stack.data), "--kafka-port", str(stack.kafka_port),
        "--kafka-controller-port", str(stack.kafka_controller_port), "--mongo-port", str(stack.mongo_port),
    ]  # fmt: skip
    assert local_stack.main(argv) == 0
    out = capsys.readouterr().out
    assert f"kafka: already running on {stack.kafka_bootstrap}" in out
    assert f"ferretdb: already running on {stack.mongo_url}" in out
    after = local_stack.status(stack)
    assert {name: s.pid for name, s in after.items()} == {name: s.pid for name, s in before.items()}
    assert all(s.ready for s in after.values())
