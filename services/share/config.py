from __future__ import annotations

from services.common.config import ServiceSettings


class ShareSettings(ServiceSettings):
    grpc_port: int = 50052
    metrics_port: int = 9102
    # The content service, asked whether an item may be shared by an advocate.
    content_addr: str = "127.0.0.1:50051"
    # Base of tracked links handed to advocates (`<base>/l/<code>`).
    public_base_url: str = "http://127.0.0.1:8080"
