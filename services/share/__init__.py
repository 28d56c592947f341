"""Share service: advocates and their networks, recorded shares, tracked links, engagement."""
