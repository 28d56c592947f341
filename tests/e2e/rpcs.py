"""Every RPC of every service, found from the proto descriptors (so a new RPC is covered by the
authorization matrix and the fuzzer without editing them), and a generic way to call one."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from advocacy.analytics.v1 import analytics_pb2
from advocacy.content.v1 import content_pb2, training_pb2
from advocacy.notify.v1 import notify_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

# The platform service (supervisor name) that serves each proto file (a process may serve several).
SERVED_BY = (
    ("content", content_pb2),
    ("content", training_pb2),
    ("share", share_pb2),
    ("rewards", rewards_pb2),
    ("analytics", analytics_pb2),
    ("notify", notify_pb2),
)


@dataclass(frozen=True)
class Rpc:
    service: str  # the platform's name for the process: content, share, rewards, analytics, notify
    path: str  # /package.Service/Method
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return self.path.split("/", 2)[2]

    @property
    def short(self) -> str:
        return f"{self.method.containing_service.name}/{self.method.name}"

    @property
    def input(self) -> Descriptor:
        return self.method.input_type

    def request(self) -> Message:
        return GetMessageClass(self.method.input_type)()

    def callable(self, channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
        response_class = GetMessageClass(self.method.output_type)
        return channel.unary_unary(
            self.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )

    def call(self, channel: grpc.Channel, request: Message, timeout: float = 15.0) -> grpc.StatusCode:
        """The call's status (OK or the error code)."""
        try:
            self.callable(channel)(request, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def all_rpcs() -> list[Rpc]:
    out = []
    for service, module in SERVED_BY:
        for svc in module.DESCRIPTOR.services_by_name.values():
            for method in svc.methods:
                out.append(Rpc(service, f"/{svc.full_name}/{method.name}", method))
    return out
