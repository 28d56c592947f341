from kafka.admin import KafkaAdminClient

from services.common.topics import ALL_TOPICS, dlq_name, provision


def test_provisioning_creates_every_topic_with_its_partitions_and_is_idempotent(stack):
    prefix = "provision-check-"
    provision(stack.kafka_bootstrap, prefix)
    assert provision(stack.kafka_bootstrap, prefix) == []  # second run creates nothing
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()
    for spec in ALL_TOPICS:
        assert described[prefix + spec.name] == spec.partitions
        assert described[dlq_name(prefix + spec.name)] == 1
